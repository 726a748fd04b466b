"""libvirt_admin_threadpool against real daemons, verified with virt-admin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.steps import four_steps as steps_of

MODULE = "libvirt_admin_threadpool"
DEFAULTS = (5, 20, 5)  # libvirtd's compiled-in min, max, prio workers


def four_steps(daemon, args: dict, server: str = "libvirtd"):
    """check, apply, again, again in check: changed, changed, unchanged, unchanged."""
    steps = steps_of(MODULE, {"uri": daemon.uri, **args}, lambda: witness.settings(daemon.uri, server))
    return steps.check, steps.apply, steps.again, steps.after


def test_all_three_settings(daemon):
    check, apply, again, after = four_steps(daemon, {"min_workers": 3, "max_workers": 12, "prio_workers": 7})
    assert after == (3, 12, 7)
    # check mode predicts what the real run then reads back
    managed = ("min_workers", "max_workers", "prio_workers")
    assert {k: check["threadpool"][k] for k in managed} == {k: apply["threadpool"][k] for k in managed}
    assert apply["threadpool"]["min_workers"] == 3
    assert apply["server"] == "libvirtd"
    assert apply["diff"]["before"] == {"min_workers": 5, "max_workers": 20, "prio_workers": 5}
    assert apply["diff"]["after"] == {"min_workers": 3, "max_workers": 12, "prio_workers": 7}
    assert again["diff"]["before"] == again["diff"]["after"]
    assert set(apply["threadpool"]) == {*managed, "workers", "free_workers", "job_queue_depth"}


def test_only_given_settings_are_managed(daemon):
    apply, after = four_steps(daemon, {"max_workers": 40})[1::2]
    assert after == (5, 40, 5)
    assert apply["diff"] == {"before": {"max_workers": 20}, "after": {"max_workers": 40}}


def test_min_raised_above_current_max_together_with_max(daemon):
    apply, after = four_steps(daemon, {"min_workers": 25, "max_workers": 30})[1::2]
    assert after == (25, 30, 5)
    assert witness.threadpool(daemon.uri, "libvirtd")["nWorkers"] >= 25
    assert apply["threadpool"]["workers"] >= 25


def test_lowering_priority_workers_settles(daemon):
    apply, after = four_steps(daemon, {"prio_workers": 2})[1::2]
    assert after == (5, 20, 2)
    assert apply["threadpool"]["prio_workers"] == 2


def test_admin_server(daemon):
    before = witness.settings(daemon.uri, "admin")
    after = four_steps(daemon, {"server": "admin", "max_workers": before[1] + 3}, server="admin")[-1]
    assert after == (before[0], before[1] + 3, before[2])
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


def test_default_uri_from_environment(daemon):
    result = run_module(MODULE, {"max_workers": 33}, env={"LIBVIRT_ADMIN_DEFAULT_URI": daemon.uri})
    assert result.changed, result
    assert witness.settings(daemon.uri, "libvirtd") == (5, 33, 5)


def test_daemon_shorthand_inside_the_host_namespace(daemon):
    """daemon: libvirtd means libvirtd:///system, the default socket path."""
    result = run_module(MODULE, {"daemon": "libvirtd", "min_workers": 2}, prefix=daemon.nsenter([]))
    assert result.changed, result
    assert witness.settings(daemon.uri, "libvirtd") == (2, 20, 5)


def test_config_file_values_are_the_starting_point(make_daemon):
    daemon = make_daemon(config={"min_workers": 2, "max_workers": 4, "prio_workers": 1})
    assert witness.settings(daemon.uri, "libvirtd") == (2, 4, 1)
    result = run_module(MODULE, {"uri": daemon.uri, "max_workers": 4})
    assert not result.changed, result
    result = run_module(MODULE, {"uri": daemon.uri, "min_workers": 3})
    assert result.changed
    assert witness.settings(daemon.uri, "libvirtd") == (3, 4, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"min_workers": 10, "max_workers": 5}, "min_workers (10) is larger than max_workers (5)"),
        ({"max_workers": 3}, "min_workers (5, the server's current value) is larger than max_workers (3)"),
        ({"min_workers": 21}, "min_workers (21) is larger than max_workers (20, the server's current value)"),
        ({"min_workers": -1}, "min_workers must be a whole number from 0 to 4294967295, got -1"),
        ({"prio_workers": 4294967296}, "prio_workers must be a whole number from 0 to 4294967295"),
        ({"min_workers": 4294967295, "max_workers": 4294967295}, "keep min_workers at or below 100000"),
        ({"min_workers": "many"}, "min_workers"),
        ({"max_workers": 0}, "max_workers 0 would remove the server's worker pool"),
        ({"server": "nosuch", "max_workers": 8}, "no server named 'nosuch'; its servers are: admin, libvirtd"),
        ({}, "one of the following is required: min_workers, max_workers, prio_workers"),
    ],
    ids=[
        "min-over-max",
        "current-min-over-max",
        "min-over-current-max",
        "negative",
        "too-large",
        "absurd-thread-count",
        "not-an-integer",
        "max-to-zero",
        "unknown-server",
        "nothing-to-set",
    ],
)
def test_bad_input_changes_nothing(daemon, args, message):
    admin_before = witness.settings(daemon.uri, "admin")
    result = run_module(MODULE, {"uri": daemon.uri, **args})
    assert result.failed, result
    assert message in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS
    assert witness.settings(daemon.uri, "admin") == admin_before


def test_non_integer_message_says_what_was_wrong(daemon):
    result = run_module(MODULE, {"uri": daemon.uri, "min_workers": "many"})
    assert "cannot be converted to an int" in result.msg, result.msg


def test_uri_and_daemon_are_exclusive(daemon):
    result = run_module(MODULE, {"uri": daemon.uri, "daemon": "libvirtd", "max_workers": 8})
    assert result.failed
    assert "mutually exclusive: uri|daemon" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


def test_daemon_must_be_a_name(daemon):
    result = run_module(MODULE, {"daemon": "libvirtd:///system", "max_workers": 8})
    assert result.failed
    assert "daemon must be the name of a libvirt daemon" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


def test_error_in_the_middle_of_a_change_puts_back_what_was_changed(daemon):
    """The daemon applies min, then max, then prio. Cap its address space so
    that starting priority threads fails after min and max were changed."""
    status = Path(f"/proc/{daemon.pid}/status").read_text()
    vm_size_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize")))
    subprocess.run(["prlimit", "--pid", str(daemon.pid), f"--as={(vm_size_kb + 16384) * 1024}"], check=True)

    result = run_module(MODULE, {"uri": daemon.uri, "min_workers": 2, "max_workers": 30, "prio_workers": 60})
    assert result.failed, result
    assert "Cannot change the thread pool of server 'libvirtd'" in result.msg
    assert "Failed to create thread" in result.msg
    assert "the settings it had already changed were put back" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS
