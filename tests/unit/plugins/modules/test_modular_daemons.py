"""The modules against fake modular daemons (virtqemud, virtproxyd), which no Debian release builds:
the server acted on is the one the daemon lists, the config file is the daemon's, discovery names a
daemon by its socket (and the shared libvirt-admin-sock by its servers)."""

from __future__ import annotations

import copy
import socket

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _discovery, _persist
from ansible_collections.virtops.libvirt_admin.plugins.modules import (
    libvirt_admin_clients,
    libvirt_admin_server_info,
    libvirt_admin_threadpool,
)
from tests.unit.fake_admin import LIBVIRTD_9_0

PROXY = "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"


def modular(daemon: str) -> dict:
    """A modular daemon's servers: its own, named after it, and admin."""
    servers = copy.deepcopy(LIBVIRTD_9_0)
    servers[daemon] = servers.pop("libvirtd")
    return servers


@pytest.mark.parametrize(("daemon", "uri"), [("virtqemud", "virtqemud:///system"), ("virtproxyd", PROXY)])
def test_the_server_acted_on_is_the_one_the_daemon_lists(fake, run, daemon, uri):
    fake.servers = modular(daemon)
    result = run(libvirt_admin_threadpool.main, {"daemon": daemon, "max_workers": 40})
    assert (result["changed"], result["server"]) == (True, daemon)
    assert fake.setter_calls == [("set_threadpool", daemon, {"maxWorkers": 40})]
    assert fake.connections[0].opened_uri == uri


@pytest.mark.parametrize(
    ("args", "conf"),
    [
        ({"daemon": "virtqemud"}, "virtqemud.conf"),
        ({"uri": "virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock"}, "virtqemud.conf"),
        ({"daemon": "virtproxyd"}, "virtproxyd.conf"),
    ],
)
def test_persist_writes_the_daemons_own_config_file(fake, run, monkeypatch, tmp_path, args, conf):
    daemon = conf.split(".")[0]
    fake.servers = modular(daemon)
    monkeypatch.setattr(_persist, "CONFIG_DIR", str(tmp_path))
    result = run(libvirt_admin_clients.main, {**args, "max_clients": 300, "persist": True, "create": True})
    assert (result["changed"], result["server"], result["config_file"]) == (True, daemon, f"{tmp_path}/{conf}")
    assert (tmp_path / conf).read_text() == "max_clients = 300\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [conf]


def test_discovery_names_a_daemon_by_its_socket_and_the_shared_socket_by_its_servers(fake, run, monkeypatch, tmp_path):
    """The fake answers every socket as virtproxyd: the shared libvirt-admin-sock becomes virtproxyd's,
    virtqemud-admin-sock stays virtqemud's."""
    fake.servers = modular("virtproxyd")
    for name in ("libvirt-admin-sock", "virtqemud-admin-sock"):
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(tmp_path / name))
    monkeypatch.setattr(_discovery, "SYSTEM_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(_discovery, "session_run_dir", lambda: None)
    result = run(libvirt_admin_server_info.main, {"discover": True})
    found = [(entry["daemon"], entry["uri"], entry["error"]) for entry in result["daemons"]]
    assert found == [
        ("virtproxyd", f"virtproxyd:///system?socket={tmp_path}/libvirt-admin-sock", None),
        ("virtqemud", f"virtqemud:///system?socket={tmp_path}/virtqemud-admin-sock", None),
    ]
    assert [conn.opened_uri for conn in fake.connections] == [
        f"libvirtd:///system?socket={tmp_path}/libvirt-admin-sock",
        f"virtqemud:///system?socket={tmp_path}/virtqemud-admin-sock",
    ]
