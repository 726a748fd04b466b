"""_library's pure helpers and _clientcalls' extra connections (nothing here loads libvirt)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    UINT_MAX,
    LibvirtAdminError,
    version_string,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import (
    TYPED_PARAM_UINT,
    _params_to_dict,
    _uint_params,
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
    assert caught.value.message == f"maxWorkers must be a whole number from 0 to {UINT_MAX}, got {value!r}"


@given(st.dictionaries(st.sampled_from(["minWorkers", "maxWorkers", "prioWorkers"]), st.integers(0, UINT_MAX)))
def test_uint_params_read_back_as_sent(values):
    assert _params_to_dict(_uint_params(values), len(values)) == values


def test_an_extra_connection_left_waiting_is_given_up_and_closed_later():
    """A daemon at its admin max_clients leaves a new connection waiting: the helper is not used
    after its deadline, and its thread closes the connection once it does open."""
    import threading
    import time
    from contextlib import contextmanager

    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls

    answer = threading.Event()
    closed = threading.Event()

    class Waiting:
        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            closed.set()

        @contextmanager
        def clients(self, server):
            yield []

    class Opener:
        def reopen(self):
            answer.wait(10)
            return Waiting()

    helper = _clientcalls._Helper(Opener(), "libvirtd")
    start = time.monotonic()
    assert helper.ready(start + 0.2) is False
    assert 0.15 < time.monotonic() - start < 2
    helper.release()
    answer.set()
    assert closed.wait(5), "the given-up connection was not closed"
    assert helper.conn is None
