"""Every seam call through ProtocolConnection against real sandboxed daemons of each libvirt version
at hand (9.0, 11.3), each result and effect checked with virt-admin (tests/harness/witness.py) or
with the daemon itself (its clients, its certificate, its process)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.harness import tls, witness
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon
from tests.harness.libvirt_versions import Libvirt, LibvirtMissing, names
from tests.harness.ports import free_port

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (  # isort: skip
    ERR_NO_CLIENT,
    ERR_NO_SERVER,
    AdminClient,
    LibvirtAdminError,
    version_string,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection  # isort: skip

# Every libvirt version at hand is covered here already: `make integration-versions` need not repeat it.
pytestmark = pytest.mark.once

VERSIONS = names()


@pytest.fixture(params=VERSIONS)
def version(request) -> str:
    try:
        Libvirt.get(request.param)
    except LibvirtMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    return request.param


@pytest.fixture
def daemon(version):
    with Daemon(version=version, drivers=("secret",)) as running:
        yield running


def rw(daemon) -> dict:
    return {"uri": f"secret:///system?socket={daemon.socket}"}


def ro(daemon) -> dict:
    return {"uri": f"secret:///system?socket={daemon.readonly_socket}", "readonly": True}


def test_reads_what_virt_admin_reads(daemon, version):
    with ProtocolConnection(daemon.uri) as conn:
        assert conn.uri() == daemon.uri
        assert version_string(conn.daemon_version()) == witness.daemon_version(daemon.uri)
        assert version_string(conn.daemon_version()).startswith(f"{version}.")
        assert conn.list_servers() == witness.servers(daemon.uri)  # the daemon's order (its hash table's)
        assert sorted(conn.list_servers()) == ["admin", "libvirtd"]
        for server in conn.list_servers():
            assert conn.lookup_server(server) == server
            pool, expected = conn.get_threadpool(server), witness.threadpool(daemon.uri, server)
            for field in ("minWorkers", "maxWorkers", "prioWorkers", "nWorkers", "jobQueueDepth"):
                assert pool[field] == expected[field], field
            limits, expected = conn.get_client_limits(server), witness.client_limits(daemon.uri, server)
            for field in ("nclients_max", "nclients_unauth_max", "nclients_unauth"):
                assert limits[field] == expected[field], field


def test_sets_typed_parameters(daemon):
    with ProtocolConnection(daemon.uri) as conn:
        conn.set_threadpool("libvirtd", {"minWorkers": 7, "maxWorkers": 70, "prioWorkers": 3})
        conn.set_client_limits("libvirtd", {"nclients_max": 300, "nclients_unauth_max": 30})
        conn.set_threadpool("admin", {"maxWorkers": 9})
    assert witness.settings(daemon.uri, "libvirtd") == (7, 70, 3)
    assert witness.threadpool(daemon.uri, "admin")["maxWorkers"] == 9
    limits = witness.client_limits(daemon.uri, "libvirtd")
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (300, 30)


def test_lists_reads_and_disconnects_clients(daemon):
    with Clients([rw(daemon), ro(daemon), rw(daemon)]) as held, ProtocolConnection(daemon.uri) as conn:
        assert all(held.opened), held.errors
        with conn.clients("libvirtd") as listed:
            assert [client.id for client in listed] == witness.client_ids(daemon.uri, "libvirtd")
            assert {client.transport for client in listed} == {0}
            assert all(abs(client.timestamp - time.time()) < 600 for client in listed)
            infos = [conn.client_info(client) for client in listed]
        for client, info in zip(listed, infos):
            seen = witness.client_info(daemon.uri, "libvirtd", client.id)
            assert info["readonly"] == (seen["readonly"] == "yes")
            assert str(info["unix_process_id"]) == seen["unix_process_id"] == str(held.pid)
            assert str(info["unix_user_id"]) == seen["unix_user_id"] == "0"
        assert sorted(info["readonly"] for info in infos) == [False, False, True]
        readonly = next(client for client, info in zip(listed, infos) if info["readonly"])
        conn.close_client(readonly)
        deadline = time.monotonic() + 10
        while readonly.id in witness.client_ids(daemon.uri, "libvirtd") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert readonly.id not in witness.client_ids(daemon.uri, "libvirtd")
        assert held.probe() == [True, False, True]
        with pytest.raises(LibvirtAdminError) as raised:
            conn.client_info(readonly)
        assert raised.value.code == ERR_NO_CLIENT
        with pytest.raises(LibvirtAdminError) as raised:
            conn.close_client(AdminClient("libvirtd", 999999, 0, 0))
        assert (raised.value.code, raised.value.message) == (
            ERR_NO_CLIENT,
            "Client not found: No client with matching ID '999999'",
        )


def test_the_admin_servers_clients_include_this_connection(daemon):
    with ProtocolConnection(daemon.uri) as conn, conn.clients("admin") as listed:
        mine = [conn.client_info(client) for client in listed]
        assert any(info["unix_process_id"] == os.getpid() for info in mine)


def test_logging_outputs_and_filters(daemon):
    with ProtocolConnection(daemon.uri) as conn:
        assert conn.get_logging_outputs() == witness.log_outputs(daemon.uri)
        conn.set_logging_filters("1:qemu +3:util.object 4:*")
        conn.set_logging_outputs("1:file:/tmp/../var/log/libvirt//x.log 3:stderr")
        assert witness.log_filters(daemon.uri) == "1:*qemu* 3:*util.object* 4:***"
        assert conn.get_logging_filters() == "1:*qemu* 3:*util.object* 4:*** "
        assert witness.log_outputs(daemon.uri) == conn.get_logging_outputs() == "1:file:/var/log/libvirt/x.log 3:stderr"
        conn.set_logging_filters("")
        conn.set_logging_outputs("")
        assert conn.get_logging_filters() == "" and witness.log_filters(daemon.uri) == ""
        assert conn.get_logging_outputs() == "3:stderr"


def test_a_connection_serves_several_threads_at_once(daemon):
    with Clients([rw(daemon)] * 12) as held, ProtocolConnection(daemon.uri) as conn:
        assert all(held.opened), held.errors
        with conn.clients("libvirtd") as listed:
            expected = {client.id: held.pid for client in listed}
            results, errors = {}, []

            def work(offset: int) -> None:
                try:
                    for index in range(60):
                        client = listed[(index + offset) % len(listed)]
                        results[(offset, index)] = (client.id, conn.client_info(client)["unix_process_id"])
                except LibvirtAdminError as error:
                    errors.append(error)

            threads = [threading.Thread(target=work, args=(offset,)) for offset in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert not errors
        assert len(results) == 180
        assert all(expected[client_id] == pid for client_id, pid in results.values())


def test_reloads_tls_files(tmp_path, version):
    old, new = tls.Pki.create(tmp_path / "old", "Old"), tls.Pki.create(tmp_path / "new", "New")
    port = free_port()
    daemon = Daemon(
        version=version,
        args=("--listen",),
        config={
            "listen_tls": 1,
            "listen_tcp": 0,
            "listen_addr": "127.0.0.1",
            "tls_port": str(port),
            "auth_tls": "none",
        },
        extra_mounts={"pki": "/etc/pki"},
    )
    try:
        old.install_server(daemon.root / "pki")
        daemon.start()
        assert tls.served_fingerprint(port) == old.fingerprint
        new.install_server(daemon.root / "pki")
        with ProtocolConnection(daemon.uri) as conn:
            conn.update_tls_files("libvirtd")
            assert tls.served_fingerprint(port) == new.fingerprint
            with pytest.raises(LibvirtAdminError) as raised:
                conn.update_tls_files("admin")
            assert raised.value.message == "internal error: no tls service found, unable to update tls files"
    finally:
        daemon.stop()


def test_daemon_timeout_makes_an_idle_daemon_exit(daemon):
    with ProtocolConnection(daemon.uri) as conn:
        conn.set_daemon_timeout(0)
        conn.set_daemon_timeout(1)
    daemon.process.wait(15)  # idle: no client left once the connection is closed
    assert daemon.process.returncode == 0


def test_daemon_shutdown(daemon, version):
    conn = ProtocolConnection(daemon.uri)
    if version == "9.0":  # the daemon is older than the call
        with pytest.raises(LibvirtAdminError) as raised:
            conn.daemon_shutdown()
        assert (raised.value.code, raised.value.message) == (3, "unknown procedure: 20")
        assert conn.daemon_version() == 9000000
        conn.close()
        assert daemon.process.poll() is None
        return
    conn.daemon_shutdown()  # libvirt 11.3 exits without answering: that is the call done
    assert daemon.process.wait(15) == 0
    with pytest.raises(LibvirtAdminError, match="client socket is closed"):
        conn.daemon_version()
    conn.close()


def test_errors_name_what_the_daemon_refused(daemon):
    with ProtocolConnection(daemon.uri) as conn:
        with pytest.raises(LibvirtAdminError) as raised:
            conn.get_threadpool("nosuch")
        assert (raised.value.code, raised.value.message) == (
            ERR_NO_SERVER,
            "Server not found: No server named 'nosuch'",
        )
        with pytest.raises(LibvirtAdminError) as raised:
            conn.set_threadpool("libvirtd", {"minWorkers": 50, "maxWorkers": 10})
        assert raised.value.message == "invalid argument: minWorkers cannot be larger than maxWorkers"
        assert sorted(conn.list_servers()) == ["admin", "libvirtd"]  # still usable


def test_virtlogd_has_no_worker_pool_to_change(version):
    with Daemon(binary="virtlogd", version=version) as virtlogd, ProtocolConnection(virtlogd.uri) as conn:
        assert conn.list_servers() == witness.servers(virtlogd.uri)
        server = conn.list_servers()[0]
        assert conn.get_threadpool(server)["maxWorkers"] == 0
        with pytest.raises(LibvirtAdminError):
            conn.set_threadpool(server, {"maxWorkers": 5})
        assert witness.threadpool(virtlogd.uri, server)["maxWorkers"] == 0
