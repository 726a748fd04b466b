"""libvirt_admin_threadpool's main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_threadpool import main
from tests.unit.fake_admin import LIBVIRTD_THREADPOOL, PERMISSION_DENIED, VIRTLOGD_9_0

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"
THREADPOOL = LIBVIRTD_THREADPOOL


def test_first_run_sends_only_the_differing_settings(fake, run):
    result = run(main, {"min_workers": 5, "max_workers": 40, "prio_workers": 7})
    assert result["changed"] is True
    assert fake.setter_calls == [("set_threadpool", "libvirtd", {"maxWorkers": 40, "prioWorkers": 7})]
    assert result["server"] == "libvirtd"
    assert result["threadpool"] == {**THREADPOOL, "max_workers": 40, "prio_workers": 7}
    assert "diff" not in result
    assert len(fake.connections) == 1  # and closed, as run() checks after every run


def test_check_mode_predicts_and_sends_nothing(fake, run):
    result = run(main, {"min_workers": 8, "max_workers": 30}, check=True)
    assert result["changed"] is True
    assert fake.setter_calls == []
    assert fake.settings("libvirtd") == (5, 20, 5)
    assert result["threadpool"] == {**THREADPOOL, "min_workers": 8, "max_workers": 30, "workers": 8, "free_workers": 8}


def test_second_run_changes_nothing(fake, run):
    args = {"min_workers": 8, "max_workers": 30}
    first = run(main, args)
    again = run(main, args)
    again_check = run(main, args, check=True)
    assert len(fake.setter_calls) == 1
    assert (again["changed"], again_check["changed"]) == (False, False)
    assert again["threadpool"] == again_check["threadpool"] == first["threadpool"]
    assert len(fake.connections) == 3


@pytest.mark.parametrize("check", [False, True])
def test_diff_shows_the_managed_settings(run, check):
    result = run(main, {"min_workers": 5, "max_workers": 40}, check=check, diff=True)
    assert result["diff"] == {
        "before": {"min_workers": 5, "max_workers": 20},
        "after": {"min_workers": 5, "max_workers": 40},
    }


def test_other_server_and_daemon(fake, run):
    result = run(main, {"daemon": "virtqemud", "server": "admin", "prio_workers": 2})
    assert (result["changed"], result["server"]) == (True, "admin")
    assert fake.connections[0].opened_uri == "virtqemud:///system"
    assert fake.settings("admin") == (5, 20, 2)
    assert fake.settings("libvirtd") == (5, 20, 5)


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"min_workers": 30, "max_workers": 10},
            "min_workers (30) is larger than max_workers (10); set max_workers at least as high as min_workers",
        ),
        ({"min_workers": 25}, "min_workers (25) is larger than max_workers (20, the server's current value)"),
        ({"max_workers": 3}, "min_workers (5, the server's current value) is larger than max_workers (3)"),
        ({"prio_workers": -1}, "prio_workers must be a whole number from 0 to 4294967295, got -1"),
        ({"max_workers": 0}, "max_workers 0 would remove the server's worker pool"),
    ],
)
def test_invalid_settings_fail_before_anything_is_sent(fake, run, args, message, check):
    result = run(main, args, check=check)
    assert result["failed"] is True
    assert result["msg"].startswith(f"Cannot change the thread pool of server 'libvirtd' of {DEFAULT_TARGET}: ")
    assert message in result["msg"]
    assert result["libvirt_error_code"] == 8
    assert fake.setter_calls == []
    assert fake.settings("libvirtd") == (5, 20, 5)


def test_a_server_without_pool_keeps_it(fake, run):
    fake.servers = copy.deepcopy(VIRTLOGD_9_0)
    result = run(main, {"max_workers": 3})
    assert "server 'virtlogd'" in result["msg"]
    assert "this server's thread pool is fixed: it runs without worker threads (max_workers 0)" in result["msg"]
    assert fake.setter_calls == []


def test_a_server_without_pool_is_not_told_to_raise_max_workers(fake, run):
    fake.servers = copy.deepcopy(VIRTLOGD_9_0)
    result = run(main, {"min_workers": 2})
    assert "this server's thread pool is fixed" in result["msg"]
    assert "set max_workers at least as high" not in result["msg"]


def test_unknown_server_lists_the_servers(fake, run):
    result = run(main, {"server": "nope", "max_workers": 30})
    assert result["msg"] == (
        f"Cannot find the server on {DEFAULT_TARGET}: the daemon has no server named 'nope'; "
        "its servers are: admin, libvirtd; set server to one of the daemon's servers"
    )
    assert result["libvirt_error_code"] == 95
    assert fake.setter_calls == []


def test_connection_failure_hints_at_become(fake, run):
    fake.connect_error = PERMISSION_DENIED
    result = run(main, {"uri": "libvirtd:///system", "max_workers": 30})
    assert result["msg"] == (
        "Cannot connect to the daemon at libvirtd:///system: "
        "Failed to connect socket to '/x': Permission denied; only the daemon's own user may use its admin "
        "socket (root for a system daemon): run the task with become: true, or use the session URI of your own daemon"
    )
    assert result["libvirt_error_code"] == 38
    assert fake.connections == []
    assert fake.calls == []


def test_failure_mid_change_is_rolled_back(fake, run):
    fake.fail_at = "prio"
    result = run(main, {"min_workers": 8, "max_workers": 30, "prio_workers": 9})
    assert result["msg"] == (
        f"Cannot change the thread pool of server 'libvirtd' of {DEFAULT_TARGET}: "
        "Failed to create thread: Resource temporarily unavailable "
        "(the settings it had already changed were put back)"
    )
    assert result["libvirt_error_code"] == 38
    assert fake.setter_calls == [
        ("set_threadpool", "libvirtd", {"minWorkers": 8, "maxWorkers": 30, "prioWorkers": 9}),
        ("set_threadpool", "libvirtd", {"minWorkers": 5, "maxWorkers": 20}),
    ]
    assert fake.settings("libvirtd") == (5, 20, 5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "one of the following is required: min_workers, max_workers, prio_workers"),
        (
            {"uri": "libvirtd:///system", "daemon": "libvirtd", "max_workers": 3},
            "parameters are mutually exclusive: uri|daemon",
        ),
        ({"daemon": "../libvirtd", "max_workers": 3}, "daemon must be the name of a libvirt daemon"),
    ],
)
def test_bad_arguments_fail_without_connecting(fake, run, args, message):
    result = run(main, args)
    assert message in result["msg"]
    assert fake.connections == []


def test_daemon_name_with_a_trailing_newline_is_refused(fake, run):
    result = run(main, {"daemon": "libvirtd\n", "max_workers": 30})
    assert "daemon must be the name of a libvirt daemon" in result.get("msg", "")
    assert fake.connections == []
