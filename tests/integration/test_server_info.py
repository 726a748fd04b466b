"""libvirt_admin_server_info against real daemons, compared with virt-admin."""

from __future__ import annotations

import time

from tests.harness import witness
from tests.harness.ansible import run_module, run_playbook
from tests.harness.clients import Clients
from tests.harness.load import JobLoad

MODULE = "libvirt_admin_server_info"


def assert_matches_virt_admin(daemon, server: dict) -> None:
    pool = witness.threadpool(daemon.uri, server["name"])
    limits = witness.client_limits(daemon.uri, server["name"])
    expected_pool = {
        "min_workers": pool["minWorkers"],
        "max_workers": pool["maxWorkers"],
        "prio_workers": pool["prioWorkers"],
        "workers": pool["nWorkers"],
        "free_workers": pool["freeWorkers"],
        "job_queue_depth": pool["jobQueueDepth"],
    }
    reported = dict(server["threadpool"])
    busy = reported.pop("busy_workers")
    # freeWorkers moves while requests (ours, virt-admin's) are served; the settings never do.
    for key in ("min_workers", "max_workers", "prio_workers", "workers", "job_queue_depth"):
        assert reported[key] == expected_pool[key], (key, reported, expected_pool)
    assert busy == reported["workers"] - reported["free_workers"]
    assert server["clients"]["max_clients"] == limits["nclients_max"]
    assert server["clients"]["max_unauth_clients"] == limits["nclients_unauth_max"]
    assert server["exhausted"] is False


def test_reports_every_server_like_virt_admin(make_daemon):
    daemon = make_daemon(config={"min_workers": 3, "max_workers": 9, "prio_workers": 2, "max_clients": 77})
    result = run_module(MODULE, {"uri": daemon.uri})
    assert not result.failed, result
    assert not result.changed
    assert [server["name"] for server in result["servers"]] == witness.servers(daemon.uri)
    assert result["version"] == witness.daemon_version(daemon.uri)
    assert result["uri"] == daemon.uri
    assert result["logging"] == {"outputs": witness.log_outputs(daemon.uri).split(), "filters": []}
    for server in result["servers"]:
        assert_matches_virt_admin(daemon, server)
    main = next(server for server in result["servers"] if server["name"] == "libvirtd")
    assert (main["threadpool"]["min_workers"], main["threadpool"]["max_workers"]) == (3, 9)
    assert main["clients"]["max_clients"] == 77


def test_check_mode_reports_too(daemon):
    result = run_module(MODULE, {"uri": daemon.uri}, check=True)
    assert not result.changed
    assert {server["name"] for server in result["servers"]} == {"admin", "libvirtd"}


def test_counts_real_clients(make_daemon):
    daemon = make_daemon(drivers=("secret",))
    specs = [{"uri": f"secret:///system?socket={daemon.socket}"}] * 3
    specs.append({"uri": f"secret:///system?socket={daemon.readonly_socket}", "readonly": True})
    with Clients(specs) as clients:
        assert all(clients.opened), clients.errors
        result = run_module(MODULE, {"uri": daemon.uri, "servers": ["libvirtd"]})
        assert [server["name"] for server in result["servers"]] == ["libvirtd"]
        assert result["servers"][0]["clients"]["clients"] == 4
        assert witness.client_limits(daemon.uri, "libvirtd")["nclients"] == 4


def test_unknown_server_lists_the_servers(daemon):
    result = run_module(MODULE, {"uri": daemon.uri, "servers": ["libvirtd", "qemu"]})
    assert result.failed
    assert "no server named 'qemu'; its servers are: admin, libvirtd" in result.msg


def test_module_defaults_group(daemon, tmp_path):
    """module_defaults: group/virtops.libvirt_admin.libvirt_admin sets uri for every module."""
    playbook = tmp_path / "group.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/virtops.libvirt_admin.libvirt_admin:
      uri: "{daemon.uri}"
  tasks:
    - virtops.libvirt_admin.libvirt_admin_threadpool:
        max_workers: 31
    - virtops.libvirt_admin.libvirt_admin_server_info:
      register: info
    - ansible.builtin.assert:
        that: (info.servers | selectattr('name', 'eq', 'libvirtd') | first).threadpool.max_workers == 31
"""
    )
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert witness.settings(daemon.uri, "libvirtd") == (5, 31, 5)


def test_exhausted_under_real_load(make_daemon):
    """With one worker and five clients, each wiping its volume again as soon as its last wipe
    returned, the worker is always busy and jobs queue: server_info marks the server exhausted (the
    admin server answers from its own pool meanwhile)."""
    daemon = make_daemon(drivers=("storage",), config={"min_workers": 1, "max_workers": 1, "prio_workers": 1})
    # A steady load, not a batch: a batch of wipes can drain while a slow machine runs the module. The
    # short client's first job would come after an hour: only the five long clients submit here.
    with JobLoad(daemon, long_clients=5, long_mb=50, short_every=3600) as load:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pool = witness.threadpool(daemon.uri, "libvirtd")
            if pool["freeWorkers"] == 0 and pool["jobQueueDepth"] >= 2:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the load did not fill the pool: {pool}")
        result = run_module(MODULE, {"uri": daemon.uri})
        after = witness.threadpool(daemon.uri, "libvirtd")
    # The load still held the worker after the module ran, as it did before.
    assert after["freeWorkers"] == 0 and after["jobQueueDepth"] >= 1, after
    assert not load.result["errors"], load.result["errors"]
    servers = {server["name"]: server for server in result["servers"]}
    assert servers["admin"]["exhausted"] is False
    main = servers["libvirtd"]
    assert main["exhausted"] is True, main
    assert main["threadpool"]["busy_workers"] == 1
    assert main["threadpool"]["free_workers"] == 0
    assert main["threadpool"]["job_queue_depth"] >= 1
