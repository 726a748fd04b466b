"""libvirt_admin_daemon's main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_daemon import main
from tests.unit.fake_admin import LIBVIRTD_THREADPOOL, THREAD_ERROR

STATE = {
    "servers": {
        "libvirtd": {"min_workers": 8, "max_workers": 40, "max_clients": 300},
        "admin": {"max_workers": 7},
    },
    "logging": {"outputs": ["3:stderr"], "filters": ["1:qemu", "3:remote"]},
}


def test_first_run_sends_only_what_differs_over_one_connection(fake, run):
    result = run(main, STATE)
    assert result["changed"] is True
    assert fake.setter_calls == [
        ("set_threadpool", "libvirtd", {"minWorkers": 8, "maxWorkers": 40}),
        ("set_client_limits", "libvirtd", {"nclients_max": 300}),
        ("set_threadpool", "admin", {"maxWorkers": 7}),
        ("set_logging_filters", "1:qemu 3:remote"),
    ]
    assert len(fake.connections) == 1
    assert fake.settings("libvirtd") == (8, 40, 5)
    assert fake.settings("admin")[1] == 7
    assert result["servers"]["libvirtd"]["threadpool"]["max_workers"] == 40
    assert result["servers"]["libvirtd"]["clients"]["max_clients"] == 300
    assert set(result["servers"]["admin"]) == {"threadpool"}
    assert result["logging"] == {"outputs": ["3:stderr"], "filters": ["1:qemu", "3:remote"]}
    assert result["uri"] == "libvirtd:///system"


def test_check_again_again_in_check(fake, run):
    check = run(main, STATE, check=True)
    assert (check["changed"], fake.setter_calls) == (True, [])
    assert check["servers"]["libvirtd"]["threadpool"] == {
        **LIBVIRTD_THREADPOOL,
        "min_workers": 8,
        "max_workers": 40,
        "workers": 8,
        "free_workers": 8,
    }
    applied = run(main, STATE)
    again = run(main, STATE)
    again_check = run(main, STATE, check=True)
    assert (applied["changed"], again["changed"], again_check["changed"]) == (True, False, False)
    assert len(fake.setter_calls) == 4
    assert again["servers"] == again_check["servers"]
    assert check["servers"]["libvirtd"]["clients"] == applied["servers"]["libvirtd"]["clients"]


@pytest.mark.parametrize("check", [False, True])
def test_one_diff_for_the_daemon(run, check):
    result = run(main, STATE, check=check, diff=True)
    assert result["diff"] == {
        "before": {
            "servers": {
                "libvirtd": {"min_workers": 5, "max_workers": 20, "max_clients": 5000},
                "admin": {"max_workers": 20},
            },
            "logging": {"outputs": ["3:stderr"], "filters": []},
        },
        "after": {
            "servers": {
                "libvirtd": {"min_workers": 8, "max_workers": 40, "max_clients": 300},
                "admin": {"max_workers": 7},
            },
            "logging": {"outputs": ["3:stderr"], "filters": ["1:qemu", "3:remote"]},
        },
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"servers": {"libvirtd": {"min_workers": 30}}},
            "min_workers (30) is larger than max_workers (20, the server's",
        ),
        ({"servers": {"nope": {"max_workers": 3}}}, "no server named 'nope'; its servers are: admin, libvirtd"),
        ({"servers": {"libvirtd": {"max_wrokers": 3}}}, "servers.libvirtd: unknown setting max_wrokers"),
        ({"servers": {"libvirtd": {"max_workers": "many"}}}, "servers.libvirtd.max_workers must be a whole number"),
        ({"servers": {"libvirtd": {"max_workers": -1}}}, "max_workers must be a whole number from 0 to 4294967295"),
        ({"servers": {"libvirtd": {}}}, "servers.libvirtd sets nothing"),
        ({"servers": {"libvirtd": 5}}, "servers.libvirtd must be a dictionary of settings"),
        ({"servers": {"libvirtd": {"max_unauth_clients": 6000}}}, "max_unauth_clients (6000) is larger than"),
        ({"logging": {"outputs": []}}, "outputs must not be empty"),
        ({"logging": {"filters": ["9:qemu"]}}, "filters"),
        ({"logging": {}}, "Nothing to manage"),
    ],
)
def test_bad_input_fails_before_anything_changes(fake, run, args, expected):
    # A valid part beside the bad one: it must not be applied either.
    merged = {
        "servers": {"admin": {"max_workers": 9}, **args.get("servers", {})},
        **{k: v for k, v in args.items() if k != "servers"},
    }
    if args == {"logging": {}}:
        merged = args
    result = run(main, merged)
    assert result["failed"] is True
    assert expected in result["msg"]
    assert fake.setter_calls == []


def test_a_later_part_failing_puts_the_earlier_ones_back(fake, run):
    fake.fail_call("set_threadpool", THREAD_ERROR, nth=2)  # the admin server's pool
    result = run(main, STATE)
    assert result["failed"] is True
    assert "changing the thread pool of server 'admin' failed" in result["msg"]
    assert "the thread pool of server 'libvirtd', client limits of server 'libvirtd' had been changed" in result["msg"]
    assert "were put back" in result["msg"]
    assert fake.settings("libvirtd") == (5, 20, 5)
    assert fake.read_threadpool("admin")["maxWorkers"] == 20
    assert fake.server("libvirtd")["clients"]["nclients_max"] == 5000
    assert fake.calls_of("set_logging_filters") == []


def test_string_numbers_from_templates_are_taken(fake, run):
    result = run(main, {"servers": {"libvirtd": {"max_workers": "25", "prio_workers": None}}})
    assert result["changed"] is True
    assert fake.setter_calls == [("set_threadpool", "libvirtd", {"maxWorkers": 25})]


def test_persist_writes_every_part_in_one_edit(fake, run, tmp_path):
    config = tmp_path / "libvirtd.conf"
    config.write_text("# libvirtd\n#max_workers = 20\nlisten_tls = 0\n")
    args = {**STATE, "persist": True, "config_file": str(config)}
    first = run(main, args, diff=True)
    text = config.read_text()
    assert first["changed"] is True
    assert first["config_file"] == str(config)
    assert "max_workers = 40\n" in text and "min_workers = 8\n" in text and "max_clients = 300\n" in text
    assert "admin_max_workers = 7\n" in text and 'log_filters = "1:qemu 3:remote"\n' in text
    assert "listen_tls = 0\n" in text and "#max_workers" not in text
    assert first["diff"]["after"]["config_file"]["admin_max_workers"] == 7
    again = run(main, args)
    assert again["changed"] is False
    assert config.read_text() == text


def test_persist_of_a_setting_without_a_key_fails_before_anything_changes(fake, run, tmp_path):
    config = tmp_path / "libvirtd.conf"
    config.write_text("")
    args = {"servers": {"libvirtd": {"max_workers": 30}, "admin": {"max_unauth_clients": 0}}}
    result = run(main, {**args, "persist": True, "config_file": str(config)})
    assert result["failed"] is True
    assert "no admin key" in result["msg"]
    assert fake.setter_calls == []
    assert config.read_text() == ""
