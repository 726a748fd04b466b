"""_threadpool: validate, predict and apply (with its rollback) against the fake daemon."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _threadpool
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import UINT_MAX, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import changes_between
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import read_threadpool
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import THREADPOOL, fields
from tests.unit.fake_admin import LIBVIRTD_9_0, LIBVIRTD_THREADPOOL, PERMISSION_DENIED, FakeDaemon

SERVER = "libvirtd"
DEFAULTS = LIBVIRTD_THREADPOOL
STEP_FIELDS = {"min": "minWorkers", "max": "maxWorkers", "prio": "prioWorkers"}
BROKEN_PIPE = LibvirtAdminError("Cannot write data: Broken pipe", 38)
THREADPOOL_SETTINGS = {key: field for key, field in fields(THREADPOOL).items() if key in _threadpool.SETTINGS}


def apply(conn, server: str, current: dict, changes: dict) -> dict:
    """What the thread pool part does in a real run: apply, then read back once settled."""
    _threadpool.apply(conn, server, current, changes)
    return _threadpool.settled_read(conn, server, changes)


def daemon_with(pool: dict) -> FakeDaemon:
    """A fake libvirtd whose own server has the given (snake_case) pool."""
    fields = {
        **THREADPOOL_SETTINGS,
        "workers": "nWorkers",
        "free_workers": "freeWorkers",
        "job_queue_depth": "jobQueueDepth",
    }
    threadpool = {fields[key]: value for key, value in pool.items()}
    return FakeDaemon({**LIBVIRTD_9_0, SERVER: {**LIBVIRTD_9_0[SERVER], "threadpool": threadpool}})


def settings(pool: dict) -> tuple:
    return tuple(pool[key] for key in THREADPOOL_SETTINGS)


# validate


def test_validate_merges_desired_over_current():
    assert _threadpool.validate(DEFAULTS, {"max_workers": 40}) == {
        "min_workers": 5,
        "max_workers": 40,
        "prio_workers": 5,
    }


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (
            {"min_workers": 30, "max_workers": 10},
            "min_workers (30) is larger than max_workers (10); set max_workers at least as high as min_workers",
        ),
        ({"min_workers": 25}, "min_workers (25) is larger than max_workers (20, the server's current value)"),
        ({"max_workers": 3}, "min_workers (5, the server's current value) is larger than max_workers (3)"),
        (
            {"max_workers": 0},
            "max_workers 0 would remove the server's worker pool, which a running daemon cannot do; "
            "keep max_workers above 0",
        ),
        ({"min_workers": -1}, "min_workers must be a whole number from 0 to 4294967295, got -1"),
        ({"prio_workers": UINT_MAX + 1}, f"prio_workers must be a whole number from 0 to {UINT_MAX}, got 4294967296"),
        ({"max_workers": True}, "max_workers must be a whole number from 0 to 4294967295, got True"),
        ({"max_workers": "9"}, "max_workers must be a whole number from 0 to 4294967295, got '9'"),
        ({"workers": 9}, "workers is not a thread pool setting"),
    ],
)
def test_validate_refuses(desired, message):
    with pytest.raises(LibvirtAdminError, match=re.escape(message)) as caught:
        _threadpool.validate(DEFAULTS, desired)
    assert caught.value.code == 8


@pytest.mark.parametrize("desired", [{"max_workers": 3}, {"min_workers": 1}, {"prio_workers": 2}])
def test_validate_refuses_any_change_to_a_server_without_pool(desired):
    without_pool = {**DEFAULTS, "min_workers": 0, "max_workers": 0, "prio_workers": 0}
    with pytest.raises(LibvirtAdminError, match=r"^this server's thread pool is fixed: it runs without worker threads"):
        _threadpool.validate(without_pool, desired)


def test_validate_lets_a_server_without_pool_be_as_it_is():
    without_pool = {**DEFAULTS, "min_workers": 0, "max_workers": 0, "prio_workers": 0}
    assert _threadpool.validate(without_pool, {"max_workers": 0, "prio_workers": 0}) == {
        "min_workers": 0,
        "max_workers": 0,
        "prio_workers": 0,
    }


counts = st.integers(0, 30)


@st.composite
def pools(draw) -> dict:
    max_workers = draw(counts)
    min_workers = draw(st.integers(0, max_workers))
    workers = draw(st.integers(min_workers, max(max_workers, min_workers)))
    return {
        "min_workers": min_workers,
        "max_workers": max_workers,
        "prio_workers": draw(counts),
        "workers": workers,
        "free_workers": draw(st.integers(0, workers)),
        "job_queue_depth": 0,
    }


desires = st.dictionaries(st.sampled_from(list(THREADPOOL_SETTINGS)), counts)


@given(current=pools(), desired=desires)
def test_validate_accepts_exactly_what_the_daemon_accepts(current, desired):
    """The daemon's rules, and one of ours: a server without worker threads (virtlogd,
    virtlockd) keeps its pool as it is, although the daemon would start priority threads."""
    merged = {**{key: current[key] for key in THREADPOOL_SETTINGS}, **desired}
    daemon_rules = merged["min_workers"] <= merged["max_workers"] and (
        (merged["max_workers"] == 0) == (current["max_workers"] == 0)
    )
    fixed_pool_kept = current["max_workers"] != 0 or merged == {key: current[key] for key in THREADPOOL_SETTINGS}
    try:
        accepted = _threadpool.validate(current, desired) == merged
    except LibvirtAdminError:
        accepted = False
    assert accepted == (daemon_rules and fixed_pool_kept)

    conn = daemon_with(current).connect()
    try:
        conn.set_threadpool(SERVER, {THREADPOOL_SETTINGS[k]: v for k, v in changes_between(current, desired).items()})
        daemon_accepted = True
    except LibvirtAdminError:
        daemon_accepted = False
    assert daemon_accepted == daemon_rules


# predict


def test_predict_starts_workers_up_to_min():
    after = _threadpool.predict(DEFAULTS, {"min_workers": 8, "max_workers": 30})
    assert after == {**DEFAULTS, "min_workers": 8, "max_workers": 30, "workers": 8, "free_workers": 8}


@given(current=pools(), desired=desires)
def test_predict_reads_as_the_daemon_after_the_change(current, desired):
    try:
        merged = _threadpool.validate(current, desired)
    except LibvirtAdminError:
        assume(False)
    changes = changes_between(current, merged)
    conn = daemon_with(current).connect()
    conn.set_threadpool(SERVER, {THREADPOOL_SETTINGS[key]: value for key, value in changes.items()})
    assert _threadpool.predict(current, changes) == read_threadpool(conn, SERVER)


def test_predict_matches_the_daemon_when_max_is_lowered(fake, conn):
    busy = {**DEFAULTS, "workers": 8, "free_workers": 6}
    fake.servers[SERVER]["threadpool"].update(nWorkers=8, freeWorkers=6)
    predicted = _threadpool.predict(busy, {"min_workers": 2, "max_workers": 3})
    conn.set_threadpool(SERVER, {"minWorkers": 2, "maxWorkers": 3})
    assert predicted == read_threadpool(conn, SERVER)  # the 5 idle surplus workers exit: 3 workers, 1 free


# apply


def test_apply_sends_only_the_changes_in_one_call(fake, conn):
    after = apply(conn, SERVER, DEFAULTS, {"min_workers": 8, "prio_workers": 7})
    assert fake.setter_calls == [("set_threadpool", SERVER, {"minWorkers": 8, "prioWorkers": 7})]
    assert (
        after
        == read_threadpool(conn, SERVER)
        == {**DEFAULTS, "min_workers": 8, "prio_workers": 7, "workers": 8, "free_workers": 8}
    )


def test_apply_puts_back_what_the_daemon_changed_before_failing(fake, conn):
    fake.fail_at = "prio"
    with pytest.raises(LibvirtAdminError) as caught:
        apply(conn, SERVER, DEFAULTS, {"min_workers": 8, "max_workers": 30, "prio_workers": 9})
    assert caught.value.message == (
        "Failed to create thread: Resource temporarily unavailable (the settings it had already changed were put back)"
    )
    assert caught.value.code == 38
    assert fake.settings(SERVER) == (5, 20, 5)
    assert fake.setter_calls[1] == ("set_threadpool", SERVER, {"minWorkers": 5, "maxWorkers": 20})


def test_apply_failing_before_any_change_changes_nothing(fake, conn):
    fake.fail_at = "min"
    with pytest.raises(LibvirtAdminError, match=r"unavailable \(nothing was changed\)$"):
        apply(conn, SERVER, DEFAULTS, {"min_workers": 8, "max_workers": 30})
    assert len(fake.setter_calls) == 1
    assert fake.settings(SERVER) == (5, 20, 5)


@pytest.mark.parametrize("failing", ["set_threadpool", "get_threadpool"])
def test_apply_says_when_the_rollback_fails_too(fake, conn, failing):
    fake.fail_at = "prio"
    fake.fail_call(failing, BROKEN_PIPE, nth=2 if failing == "set_threadpool" else 1)
    with pytest.raises(LibvirtAdminError) as caught:
        apply(conn, SERVER, DEFAULTS, {"max_workers": 30, "prio_workers": 9})
    assert caught.value.message == (
        "Failed to create thread: Resource temporarily unavailable; restoring the previous settings also failed: "
        "Cannot write data: Broken pipe; check the server with libvirt_admin_server_info"
    )
    assert caught.value.code == 38
    assert fake.settings(SERVER) == (5, 30, 5)


@given(current=pools(), desired=desires, fail_at=st.sampled_from([None, "min", "max", "prio"]))
def test_apply_leaves_either_the_new_or_the_old_settings(current, desired, fail_at):
    try:
        merged = _threadpool.validate(current, desired)
    except LibvirtAdminError:
        assume(False)
    fake = daemon_with(current)
    fake.fail_at = fail_at
    conn = fake.connect()
    changes = changes_between(current, merged)
    assume(changes)
    try:
        after = apply(conn, SERVER, current, changes)
    except LibvirtAdminError as error:
        assert STEP_FIELDS[fail_at] in fake.setter_calls[0][2]  # only a step with work to do fails
        assert fake.settings(SERVER) == settings(current)
        assert error.message.endswith(("were put back)", "nothing was changed)"))
    else:
        assert fake.settings(SERVER) == settings(after) == settings(merged)
        assert len(fake.setter_calls) == 1


def test_apply_waits_for_priority_workers_to_exit(fake, conn, monkeypatch):
    monkeypatch.setattr(_threadpool, "SETTLE_INTERVAL", 0)
    fake.prio_lag_reads = 3
    assert apply(conn, SERVER, DEFAULTS, {"prio_workers": 2})["prio_workers"] == 2
    assert [call[0] for call in fake.calls].count("get_threadpool") == 4


def test_apply_waits_no_longer_than_the_settle_time(fake, conn, monkeypatch):
    monkeypatch.setattr(_threadpool, "SETTLE_SECONDS", 0)
    fake.prio_lag_reads = 3
    assert apply(conn, SERVER, DEFAULTS, {"prio_workers": 2})["prio_workers"] == 5


def test_apply_error_before_the_daemon_is_reached(fake, conn):
    fake.fail_call("set_threadpool", PERMISSION_DENIED)
    with pytest.raises(LibvirtAdminError, match=r"Permission denied \(nothing was changed\)$"):
        apply(conn, SERVER, DEFAULTS, {"max_workers": 30})
