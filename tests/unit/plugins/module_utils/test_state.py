"""_state: what differs, and the diff Ansible shows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import changes_between, diff

CURRENT = {"min_workers": 5, "max_workers": 20, "prio_workers": 5, "workers": 5}


def test_changes_between_keeps_only_differing_desired_keys():
    assert changes_between(CURRENT, {"min_workers": 5, "max_workers": 40}) == {"max_workers": 40}
    assert changes_between(CURRENT, {"min_workers": 5}) == {}
    assert changes_between(CURRENT, {"nclients_max": 10}) == {"nclients_max": 10}


def test_diff_covers_only_the_given_keys():
    assert diff(CURRENT, {**CURRENT, "max_workers": 40}, ["max_workers", "min_workers"]) == {
        "before": {"max_workers": 20, "min_workers": 5},
        "after": {"max_workers": 40, "min_workers": 5},
    }


settings = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3))


@given(current=settings, desired=settings)
def test_applying_the_changes_reaches_the_desired_state(current, desired):
    changes = changes_between(current, desired)
    assert set(changes) <= set(desired)
    assert changes_between({**current, **changes}, desired) == {}
