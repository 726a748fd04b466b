"""A root task that a careless operator runs must never lock out the admin API, lose a config edit,
hang, or make the daemon write into a file that is no log; and its errors name the real cause.
Each case against a real sandboxed libvirtd, witnessed with virt-admin and by the target files'
hashes before and after."""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness import witness
from tests.harness.ansible import REPO, run_module, run_playbook

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import (  # isort: skip
    LibraryConnection,
)


def digest(path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def admin_state(daemon):
    return witness.client_limits(daemon.uri, "admin"), witness.settings(daemon.uri, "admin")


# 1. Never lock everyone out of the admin API.


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("libvirt_admin_clients", {"server": "admin", "max_clients": 0}),
        ("libvirt_admin_clients", {"server": "admin", "max_clients": 1}),
        ("libvirt_admin_daemon", {"servers": {"admin": {"max_clients": 1}}}),
    ],
)
def test_the_admin_servers_client_limit_keeps_room_for_the_next_admin_connection(daemon, module, args, check):
    before = admin_state(daemon)
    result = run_module(module, {"uri": daemon.uri, **args}, check=check)
    assert result.failed, result
    assert "would leave no room for the next admin connection" in result.msg, result.msg
    assert "keep it at 2 or more" in result.msg
    assert admin_state(daemon) == before
    # The daemon still answers: nothing locked it.
    assert sorted(witness.servers(daemon.uri)) == ["admin", "libvirtd"]


def test_a_limit_above_the_admin_clients_connected_is_set(daemon):
    result = run_module("libvirt_admin_clients", {"uri": daemon.uri, "server": "admin", "max_clients": 2})
    assert result.changed and not result.failed, result
    assert witness.client_limits(daemon.uri, "admin")["nclients_max"] == 2
    assert sorted(witness.servers(daemon.uri)) == ["admin", "libvirtd"]


def test_the_enforce_role_refuses_it_too(daemon):
    before = admin_state(daemon)
    daemons = [{"uri": daemon.uri, "servers": {"admin": {"max_clients": 0}}}]
    done = run_playbook(
        REPO / "playbooks" / "enforce.yml",
        {"libvirt_admin_daemons": daemons, "libvirt_admin_become": False, "libvirt_admin_hosts": "localhost"},
    )
    assert done.returncode != 0
    assert "would leave no room for the next admin connection" in done.stdout, done.stdout
    assert admin_state(daemon) == before


@pytest.mark.parametrize(
    ("module", "args", "key"),
    [
        ("libvirt_admin_clients", {"server": "admin", "max_clients": 0}, "admin_max_clients"),
        ("libvirt_admin_threadpool", {"server": "admin", "max_workers": 0, "min_workers": 0}, "admin_max_workers"),
        ("libvirt_admin_daemon", {"servers": {"admin": {"max_clients": 0}}}, "admin_max_clients"),
    ],
)
def test_persisting_a_lockout_is_refused(daemon, tmp_path, module, args, key):
    config_file = tmp_path / "libvirtd.conf"
    config_file.write_text("max_workers = 20\n")
    before, text = admin_state(daemon), digest(config_file)
    result = run_module(module, {"uri": daemon.uri, **args, "persist": True, "config_file": str(config_file)})
    assert result.failed, result
    assert f"{key} = 0 would leave the daemon, once restarted, with an admin server" in result.msg, result.msg
    assert admin_state(daemon) == before
    assert digest(config_file) == text


# 2. Concurrent edits of one config file all land.


def test_five_tasks_persisting_different_keys_at_once_all_land(daemon, tmp_path):
    config_file = tmp_path / "libvirtd.conf"
    tasks = [
        ("libvirt_admin_threadpool", {"min_workers": 6}, "min_workers = 6"),
        ("libvirt_admin_threadpool", {"prio_workers": 7}, "prio_workers = 7"),
        ("libvirt_admin_clients", {"max_clients": 4000}, "max_clients = 4000"),
        ("libvirt_admin_clients", {"max_unauth_clients": 15}, "max_anonymous_clients = 15"),
        ("libvirt_admin_logging", {"filters": ["3:remote"]}, 'log_filters = "3:remote"'),
    ]
    for round_number in range(6):
        config_file.write_text(f"# round {round_number}\n")
        with ThreadPoolExecutor(len(tasks)) as pool:
            results = list(
                pool.map(
                    lambda task: run_module(
                        task[0], {"uri": daemon.uri, **task[1], "persist": True, "config_file": str(config_file)}
                    ),
                    tasks,
                )
            )
        assert all(result.changed and not result.failed for result in results), results
        text = config_file.read_text()
        missing = [line for _module, _args, line in tasks if line not in text.splitlines()]
        assert not missing, f"round {round_number}: {missing} not in\n{text}"
        assert text.startswith(f"# round {round_number}\n")


def test_five_tasks_persisting_the_same_key_leave_one_of_the_values(daemon, tmp_path):
    config_file = tmp_path / "libvirtd.conf"
    config_file.write_text("# kept\nmax_workers = 20\n")
    values = [31, 32, 33, 34, 35]
    args = {"uri": daemon.uri, "persist": True, "config_file": str(config_file)}
    with ThreadPoolExecutor(len(values)) as pool:
        results = list(
            pool.map(lambda value: run_module("libvirt_admin_threadpool", {**args, "max_workers": value}), values)
        )
    assert not any(result.failed for result in results), results
    lines = config_file.read_text().splitlines()
    assert lines[0] == "# kept" and len(lines) == 2
    assert lines[1] in {f"max_workers = {value}" for value in values}
    assert witness.settings(daemon.uri, "libvirtd")[1] in values


def test_five_runtime_changes_at_once_end_in_one_of_the_asked_values(daemon):
    values = [21, 22, 23, 24, 25]
    with ThreadPoolExecutor(len(values)) as pool:
        results = list(
            pool.map(
                lambda value: run_module("libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": value}), values
            )
        )
    assert not any(result.failed for result in results), results
    assert witness.settings(daemon.uri, "libvirtd")[1] in values


def test_a_locked_config_file_is_waited_for_at_most_the_timeout(daemon, tmp_path):
    config_file = tmp_path / "libvirtd.conf"
    config_file.write_text("max_workers = 20\n")
    text = digest(config_file)
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        start = time.monotonic()
        result = run_module(
            "libvirt_admin_threadpool",
            {"uri": daemon.uri, "max_workers": 24, "persist": True, "config_file": str(config_file), "timeout": 2},
        )
        elapsed = time.monotonic() - start
    finally:
        os.close(folder)
    assert result.failed, result
    assert f"cannot lock {config_file}: another task has been editing the config files" in result.msg, result.msg
    assert "the runtime change was applied; the config file was not changed" in result.msg
    assert elapsed < 60
    assert digest(config_file) == text


# 3. Nothing waits without bound.


@pytest.fixture
def silent_socket(tmp_path):
    """An admin socket that accepts connections and never answers."""
    path = tmp_path / "silent-admin-sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.parametrize("module", ["libvirt_admin_server_info", "libvirt_admin_threadpool"])
def test_a_daemon_that_never_answers_fails_the_task_after_the_timeout(silent_socket, module):
    args = {"uri": f"libvirtd:///system?socket={silent_socket}", "timeout": 2}
    if module == "libvirt_admin_threadpool":
        args["max_workers"] = 30
    start = time.monotonic()
    result = run_module(module, args)
    elapsed = time.monotonic() - start
    assert result.failed, result
    assert f"the daemon did not answer within 2 s (to open the admin connection, on {silent_socket})" in result.msg
    assert "restart it, or raise timeout" in result.msg
    assert elapsed < 30


def test_an_admin_server_at_its_client_limit_fails_the_task_after_the_timeout(daemon):
    with LibraryConnection(daemon.uri) as held:
        held.set_client_limits("admin", {"nclients_max": 1})  # this connection is the one client it takes
        try:
            start = time.monotonic()
            result = run_module("libvirt_admin_server_info", {"uri": daemon.uri, "timeout": 2})
            elapsed = time.monotonic() - start
        finally:
            held.set_client_limits("admin", {"nclients_max": 5000})
    assert result.failed, result
    assert "the daemon did not answer within 2 s (to open the admin connection" in result.msg, result.msg
    assert "admin_max_clients" in result.msg
    assert elapsed < 30
    assert sorted(witness.servers(daemon.uri)) == ["admin", "libvirtd"]


def test_the_timeout_must_be_positive(daemon):
    result = run_module("libvirt_admin_server_info", {"uri": daemon.uri, "timeout": 0})
    assert result.failed
    assert "timeout must be a number of seconds above 0, got 0" in result.msg


# 4. Only a regular file is read as a config file, and only so much of it.


def fifo(tmp_path):
    path = tmp_path / "fifo.conf"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda tmp_path: "/dev/zero", "a character device"),
        (fifo, "a FIFO"),
        (lambda tmp_path: tmp_path, "a directory"),
    ],
)
def test_a_config_file_that_is_not_a_regular_file_is_refused_at_once(daemon, tmp_path, make, kind):
    path = make(tmp_path)
    before = witness.settings(daemon.uri, "libvirtd")
    start = time.monotonic()
    result = run_module(
        "libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": 26, "persist": True, "config_file": str(path)}
    )
    assert result.failed, result
    assert f"{path} is not a regular file ({kind}); give the path of the daemon's config file" in result.msg, result.msg
    assert "become" not in result.msg
    assert time.monotonic() - start < 30
    assert witness.settings(daemon.uri, "libvirtd") == before


def test_a_config_file_larger_than_libvirt_reads_is_refused(daemon, tmp_path):
    path = tmp_path / "huge.conf"
    with open(path, "wb") as handle:
        handle.truncate(10 * 1024 * 1024 + 1)
    text = digest(path)
    result = run_module(
        "libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": 26, "persist": True, "config_file": str(path)}
    )
    assert result.failed
    assert f"{path} is 10485761 bytes, more than libvirt reads of a config file" in result.msg, result.msg
    assert digest(path) == text
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)


# 5. The daemon logs only into logs.


def logging_state(daemon):
    return witness.log_outputs(daemon.uri), witness.log_filters(daemon.uri)


@pytest.fixture
def not_a_log(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    path = folder / "passwd-copy"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return path


def output_cases(tmp_path, not_a_log):
    link = tmp_path / "innocent.log"
    link.symlink_to("/etc/passwd")
    return [
        (str(not_a_log), "exists and is no log"),
        ("/etc/passwd", "under the system directory /etc"),
        ("/usr/lib/libvirt-debug.log", "under the system directory /usr"),
        ("/lib64/x.log", "under the system directory /lib64"),
        ("/dev/null", "under the system directory /dev"),
        (str(link), "which leads to /etc/passwd"),
    ]


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize("module", ["libvirt_admin_logging", "libvirt_admin_daemon"])
def test_a_file_output_that_is_no_log_is_refused(daemon, tmp_path, not_a_log, module, check):
    for path, reason in output_cases(tmp_path, not_a_log):
        logging = {"outputs": [f"1:file:{path}"], "filters": ["1:*"]}
        args = {"uri": daemon.uri, **(logging if module == "libvirt_admin_logging" else {"logging": logging})}
        before, hashes = logging_state(daemon), (digest(not_a_log), digest("/etc/passwd"))
        result = run_module(module, args, check=check)
        assert result.failed, (path, result)
        assert reason in result.msg, (path, result.msg)
        assert "or set unsafe_outputs: true if you mean it" in result.msg
        assert logging_state(daemon) == before
        time.sleep(0.2)
        assert (digest(not_a_log), digest("/etc/passwd")) == hashes


def test_unsafe_outputs_lets_a_user_who_means_it_write_elsewhere(daemon, not_a_log):
    result = run_module(
        "libvirt_admin_logging",
        {"uri": daemon.uri, "outputs": [f"3:file:{not_a_log}"], "unsafe_outputs": True},
    )
    assert result.changed and not result.failed, result
    assert witness.log_outputs(daemon.uri) == f"3:file:{not_a_log}"


def test_an_existing_log_and_a_new_file_are_accepted(daemon, tmp_path):
    existing = tmp_path / "debug.log"
    existing.write_text("an earlier log\n")
    new = tmp_path / "new" / "debug"
    for path in (existing, new):
        result = run_module("libvirt_admin_logging", {"uri": daemon.uri, "outputs": [f"3:file:{path}"]}, check=True)
        assert result.changed and not result.failed, result


def test_the_debug_window_refuses_a_log_file_that_is_no_log(daemon, not_a_log, tmp_path):
    before, text = logging_state(daemon), digest(not_a_log)
    fetch_dir = tmp_path / "fetched"
    done = run_playbook(
        REPO / "playbooks" / "debug_window.yml",
        {
            "libvirt_admin_uri": daemon.uri,
            "libvirt_admin_become": False,
            "libvirt_admin_hosts": "localhost",
            "libvirt_admin_debug_log": str(not_a_log),
            "libvirt_admin_debug_seconds": 1,
            "libvirt_admin_debug_fetch_dir": str(fetch_dir),
        },
    )
    assert done.returncode != 0
    assert "exists and is no log" in done.stdout, done.stdout
    assert not fetch_dir.exists() or not any(fetch_dir.rglob("*")), "a refused file was fetched"
    assert logging_state(daemon) == before
    assert digest(not_a_log) == text


# 6. Messages that name the real cause.


def test_a_dangling_symlink_into_a_missing_directory_says_so(daemon, tmp_path):
    link = tmp_path / "libvirtd.conf"
    link.symlink_to(tmp_path / "missing" / "libvirtd.conf")
    result = run_module(
        "libvirt_admin_threadpool",
        {"uri": daemon.uri, "max_workers": 27, "persist": True, "create": True, "config_file": str(link)},
    )
    assert result.failed
    assert f"its directory {tmp_path / 'missing'} does not exist" in result.msg, result.msg
    assert "become" not in result.msg and "permission" not in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)


def test_a_config_file_that_does_not_parse_is_named(daemon, tmp_path):
    path = tmp_path / "broken.conf"
    path.write_text("max_workers\n")
    text = digest(path)
    result = run_module(
        "libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": 27, "persist": True, "config_file": str(path)}
    )
    assert result.failed
    assert f"the config file {path} is not valid libvirt config syntax (line 1: expecting an assignment)" in result.msg
    assert digest(path) == text
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)


def test_the_main_socket_given_as_an_admin_socket_says_so(daemon):
    result = run_module("libvirt_admin_server_info", {"uri": f"libvirtd:///system?socket={daemon.socket}"})
    assert result.failed
    assert "that socket serves libvirt's main API, not the admin API" in result.msg, result.msg


# Kept true.


def test_a_symlinked_config_file_is_written_through_with_mode_and_owner_kept(daemon, tmp_path):
    target = tmp_path / "real" / "libvirtd.conf"
    target.parent.mkdir()
    target.write_text("max_workers = 20\n")
    os.chmod(target, 0o600)
    os.chown(target, 0, 4)
    link = tmp_path / "libvirtd.conf"
    link.symlink_to(target)
    result = run_module(
        "libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": 28, "persist": True, "config_file": str(link)}
    )
    assert result.changed and not result.failed, result
    assert link.is_symlink()
    assert target.read_text() == "max_workers = 28\n"
    status = target.stat()
    assert (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid) == (0o600, 0, 4)


def test_check_mode_with_persist_touches_no_file(daemon, tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_text("max_workers = 20\n")
    before = path.stat()
    missing = tmp_path / "absent.conf"
    for config_file, create in ((path, False), (missing, True)):
        result = run_module(
            "libvirt_admin_threadpool",
            {"uri": daemon.uri, "max_workers": 29, "persist": True, "create": create, "config_file": str(config_file)},
            check=True,
        )
        assert result.changed and not result.failed, result
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not missing.exists()
    assert sorted(item.name for item in tmp_path.iterdir()) == ["libvirtd.conf"]


def test_a_backup_name_taken_by_a_symlink_is_not_followed(daemon, tmp_path, monkeypatch):
    path = tmp_path / "libvirtd.conf"
    path.write_text("max_workers = 20\n")
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    stamp = time.strftime("%Y-%m-%d@%H:%M")
    # Every backup name of the next minute, taken by a symlink to the victim.
    for second in range(60):
        (tmp_path / f"libvirtd.conf.{stamp}:{second:02d}~").symlink_to(victim)
    result = run_module(
        "libvirt_admin_threadpool",
        {"uri": daemon.uri, "max_workers": 30, "persist": True, "backup": True, "config_file": str(path)},
    )
    assert result.changed and not result.failed, result
    assert victim.read_text() == "keep me\n"
    backup = result["backup_file"]
    assert not os.path.islink(backup)
    with open(backup) as handle:
        assert handle.read() == "max_workers = 20\n"
