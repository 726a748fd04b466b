"""_binding's pure helpers (nothing here loads libvirt)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    TYPED_PARAM_UINT,
    UINT_MAX,
    LibvirtAdminError,
    _params_to_dict,
    _uint_params,
    version_string,
)


@pytest.mark.parametrize(("number", "text"), [(9000000, "9.0.0"), (10010002, "10.10.2"), (2000000, "2.0.0")])
def test_version_string(number, text):
    assert version_string(number) == text


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_version_string_unpacks_every_version(major, minor, micro):
    assert version_string(major * 1000000 + minor * 1000 + micro) == f"{major}.{minor}.{micro}"


def test_uint_params_builds_uint_typed_parameters():
    array = _uint_params({"minWorkers": 0, "maxWorkers": UINT_MAX})
    assert [(p.field, p.type, p.value.ui) for p in array] == [
        (b"minWorkers", TYPED_PARAM_UINT, 0),
        (b"maxWorkers", TYPED_PARAM_UINT, UINT_MAX),
    ]


@pytest.mark.parametrize("value", [-1, UINT_MAX + 1, True, "5", 5.0, None])
def test_uint_params_refuses_what_is_no_uint(value):
    with pytest.raises(LibvirtAdminError) as caught:
        _uint_params({"minWorkers": 1, "maxWorkers": value})
    assert caught.value.code == 8
    assert caught.value.message == f"maxWorkers must be an integer from 0 to {UINT_MAX}, got {value!r}"


@given(st.dictionaries(st.sampled_from(["minWorkers", "maxWorkers", "prioWorkers"]), st.integers(0, UINT_MAX)))
def test_uint_params_read_back_as_sent(values):
    assert _params_to_dict(_uint_params(values), len(values)) == values
