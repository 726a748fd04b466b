"""persist: the managed values written to the daemon's config file as well;
they hold across a restart (read back with virt-admin), the rest of the file
stays as it was, and libvirt parses every file the modules edit (each test
restarts the daemon on it)."""

from __future__ import annotations

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.daemons import Daemon
from tests.harness.steps import four_steps as steps_of
from tests.unit.plugins.module_utils.test_config import shipped_config

ETC = "/etc/libvirt"


@pytest.fixture
def shipped_daemon():
    """libvirtd started on Debian's shipped libvirtd.conf (every key commented out)."""
    daemon = Daemon(drivers=("secret",))
    (daemon.root / "etc").mkdir(parents=True, exist_ok=True)
    daemon.config_file = daemon.root / "etc" / "libvirtd.conf"
    daemon.config_file.write_text(shipped_config("libvirtd.conf"))
    with daemon:
        yield daemon


def four_steps(daemon, module: str, args: dict) -> dict:
    """The four steps, witnessed by the config file's text and inode: check mode leaves the file as
    it is, a file already right is not rewritten."""
    args = {"uri": daemon.uri, "persist": True, "config_file": str(daemon.config_file), **args}

    def config_file():
        return daemon.config_file.read_text(), daemon.config_file.stat().st_ino

    steps = steps_of(module, args, config_file)
    assert steps.apply["config_file"] == str(daemon.config_file)
    (text, _inode), (edited, _inode_after) = steps.before, steps.after
    assert edited != text
    changed_lines = [pair for pair in zip(text.splitlines(), edited.splitlines()) if pair[0] != pair[1]]
    assert len(text.splitlines()) == len(edited.splitlines()), "lines were added or removed"
    return {"apply": steps.apply, "changed_lines": changed_lines}


def test_threadpool_holds_after_restart(shipped_daemon):
    outcome = four_steps(shipped_daemon, "libvirt_admin_threadpool", {"min_workers": 7, "max_workers": 33})
    # the commented-out defaults became the settings, where they stood
    assert sorted(after for before, after in outcome["changed_lines"]) == ["max_workers = 33", "min_workers = 7"]
    assert outcome["apply"]["diff"]["after"]["config_file"] == {"min_workers": 7, "max_workers": 33}
    shipped_daemon.restart()
    assert witness.settings(shipped_daemon.uri, "libvirtd") == (7, 33, 5)


def test_client_limits_and_admin_server_hold_after_restart(shipped_daemon):
    four_steps(shipped_daemon, "libvirt_admin_clients", {"max_clients": 300, "max_unauth_clients": 30})
    four_steps(shipped_daemon, "libvirt_admin_threadpool", {"server": "admin", "max_workers": 9})
    four_steps(shipped_daemon, "libvirt_admin_clients", {"server": "admin", "max_clients": 11})
    shipped_daemon.restart()
    limits = witness.client_limits(shipped_daemon.uri, "libvirtd")
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (300, 30)
    assert witness.settings(shipped_daemon.uri, "admin")[1] == 9
    assert witness.client_limits(shipped_daemon.uri, "admin")["nclients_max"] == 11


def test_logging_holds_after_restart(shipped_daemon):
    args = {"outputs": ["1:file:/var/log/libvirt/persisted.log", "3:stderr"], "filters": ["1:rpc", "3:util"]}
    four_steps(shipped_daemon, "libvirt_admin_logging", args)
    shipped_daemon.restart()
    assert witness.log_outputs(shipped_daemon.uri) == "1:file:/var/log/libvirt/persisted.log 3:stderr"
    assert witness.log_filters(shipped_daemon.uri) == "1:*rpc* 3:*util*"


def test_file_and_runtime_are_idempotent_each_on_its_own(shipped_daemon):
    args = {"uri": shipped_daemon.uri, "persist": True, "config_file": str(shipped_daemon.config_file)}
    assert run_module("libvirt_admin_threadpool", {**args, "max_workers": 25}).changed
    witness.virt_admin(shipped_daemon.uri, "srv-threadpool-set", "libvirtd", "--max-workers", "40")  # runtime drift
    inode = shipped_daemon.config_file.stat().st_ino
    result = run_module("libvirt_admin_threadpool", {**args, "max_workers": 25}, diff=True)
    assert result.changed
    assert shipped_daemon.config_file.stat().st_ino == inode, "the file was right and was rewritten"
    assert witness.settings(shipped_daemon.uri, "libvirtd")[1] == 25
    # the reverse: runtime right, file drifted
    shipped_daemon.config_file.write_text(shipped_daemon.config_file.read_text().replace("= 25", "= 26"))
    result = run_module("libvirt_admin_threadpool", {**args, "max_workers": 25}, diff=True)
    assert result.changed
    assert result["diff"]["before"]["config_file"] == {"max_workers": 26}
    assert "max_workers = 25" in shipped_daemon.config_file.read_text()


def test_backup(shipped_daemon):
    text = shipped_daemon.config_file.read_text()
    args = {"uri": shipped_daemon.uri, "persist": True, "config_file": str(shipped_daemon.config_file), "backup": True}
    result = run_module("libvirt_admin_threadpool", {**args, "prio_workers": 8})
    assert result.changed
    assert result["backup_file"].startswith(str(shipped_daemon.config_file) + ".")
    with open(result["backup_file"]) as backup:
        assert backup.read() == text


def test_missing_file_needs_create(daemon, tmp_path):
    config_file = tmp_path / "absent.conf"
    args = {"uri": daemon.uri, "max_workers": 22, "persist": True, "config_file": str(config_file)}
    result = run_module("libvirt_admin_threadpool", args)
    assert result.failed
    assert f"the config file {config_file} does not exist; set create: true" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5), "the runtime changed although the file failed"
    result = run_module("libvirt_admin_threadpool", {**args, "create": True})
    assert result.changed
    assert config_file.read_text() == "max_workers = 22\n"
    assert witness.settings(daemon.uri, "libvirtd") == (5, 22, 5)


def test_unwritable_file_changes_nothing(daemon, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    config_file = folder / "libvirtd.conf"
    config_file.write_text("max_workers = 20\n")
    read_only = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -o bind,ro "$0" "$0" && exec "$@"',
    ]
    args = {"uri": daemon.uri, "max_workers": 23, "persist": True, "config_file": str(config_file)}
    result = run_module("libvirt_admin_threadpool", args, prefix=[*read_only, str(folder)])
    assert result.failed
    assert f"cannot write the config file {config_file}" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)
    assert config_file.read_text() == "max_workers = 20\n"


@pytest.mark.parametrize(
    "daemon_args, module, args, message",
    [
        ({}, "libvirt_admin_threadpool", {"server": "admin", "prio_workers": 3}, "prio_workers"),
        ({}, "libvirt_admin_clients", {"server": "admin", "max_unauth_clients": 3}, "max_unauth_clients"),
        ({"binary": "virtlogd"}, "libvirt_admin_clients", {"max_unauth_clients": 3}, "max_unauth_clients"),
    ],
)
def test_a_key_this_daemon_does_not_have(daemon_args, module, args, message, tmp_path):
    config_file = tmp_path / "daemon.conf"
    config_file.write_text("")
    with Daemon(**daemon_args) as daemon:
        before = witness.client_limits(daemon.uri, "admin"), witness.settings(daemon.uri, "admin")
        result = run_module(module, {"uri": daemon.uri, "persist": True, "config_file": str(config_file), **args})
        assert result.failed, result
        assert message in result.msg and "config" in result.msg, result.msg
        assert (witness.client_limits(daemon.uri, "admin"), witness.settings(daemon.uri, "admin")) == before
    assert config_file.read_text() == ""
