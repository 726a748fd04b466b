"""_pipeline's comparison and diff, and _settings' check of values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import UINT_MAX, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import (
    changes_between,
    described,
    diff,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import CLIENTS, check_values
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._threadpool import ThreadpoolPart


def check_uint_settings(desired: dict) -> None:
    check_values(CLIENTS, desired)


CURRENT = {"min_workers": 5, "max_workers": 20, "prio_workers": 5, "workers": 5}


def test_changes_between_keeps_only_differing_desired_keys():
    assert changes_between(CURRENT, {"min_workers": 5, "max_workers": 40}) == {"max_workers": 40}
    assert changes_between(CURRENT, {"min_workers": 5}) == {}
    assert changes_between(CURRENT, {"nclients_max": 10}) == {"nclients_max": 10}


def test_diff_covers_only_the_given_keys():
    part = ThreadpoolPart({"max_workers": 40, "min_workers": 5})
    part.before = CURRENT
    assert diff([part], None) == {
        "before": {"max_workers": 20, "min_workers": 5},
        "after": {"max_workers": 40, "min_workers": 5},
    }


settings = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3))


@given(current=settings, desired=settings)
def test_applying_the_changes_reaches_the_desired_state(current, desired):
    changes = changes_between(current, desired)
    assert set(changes) <= set(desired)
    assert changes_between({**current, **changes}, desired) == {}


LIMITS = {"max_clients": "nclients_max", "max_unauth_clients": "nclients_unauth_max"}


def test_check_uint_settings_accepts_the_uint_range():
    check_uint_settings({"max_clients": 0, "max_unauth_clients": UINT_MAX})
    check_uint_settings({})


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        ({"max_clients": -1}, "max_clients must be a whole number from 0 to 4294967295, got -1"),
        ({"max_clients": UINT_MAX + 1}, "max_clients must be a whole number from 0 to 4294967295, got 4294967296"),
        ({"max_clients": False}, "max_clients must be a whole number from 0 to 4294967295, got False"),
        ({"max_clients": "10"}, "max_clients must be a whole number from 0 to 4294967295, got '10'"),
        ({"max_clients": 10.0}, "max_clients must be a whole number from 0 to 4294967295, got 10.0"),
        ({"max_clients": None}, "max_clients must be a whole number from 0 to 4294967295, got None"),
        ({"clients": 3}, "clients is not a client limit"),
        (
            {"max_clients": 10, "nclients_max": 10},
            "nclients_max is not a client limit",
        ),  # the libvirt name is not a key
        ({"max_clients": -2, "max_unauth_clients": -3}, "max_clients must be"),  # the first one wrong is reported
    ],
)
def test_check_uint_settings_refuses(desired, message):
    with pytest.raises(LibvirtAdminError) as caught:
        check_uint_settings(desired)
    assert caught.value.code == 8
    assert caught.value.message.startswith(message)


@given(st.dictionaries(st.sampled_from(sorted(LIMITS)), st.integers(-(2**33), 2**33)))
def test_check_uint_settings_refuses_exactly_the_integers_out_of_range(desired):
    try:
        check_uint_settings(desired)
        accepted = True
    except LibvirtAdminError:
        accepted = False
    assert accepted == all(0 <= value <= UINT_MAX for value in desired.values())


def test_described_names_the_source_of_a_value():
    merged = {"max_clients": 10, "max_unauth_clients": 20}
    assert described("max_clients", merged, {"max_clients": 10}) == "max_clients (10)"
    assert described("max_unauth_clients", merged, {"max_clients": 10}) == (
        "max_unauth_clients (20, the server's current value)"
    )
