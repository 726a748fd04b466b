"""libvirt_admin_tls against a real libvirtd listening for TLS clients on
127.0.0.1, with certificates made by openssl under the daemon's own /etc/pki.
Verified through real TLS clients (libvirt-python in a separate process,
trusting one CA or the other) and through the certificate openssl s_client
is served; libvirt's own words in the error cases come from virt-admin."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import tls
from tests.harness.ansible import run_module
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon, DaemonError
from tests.harness.ports import free_port

MODULE = "libvirt_admin_tls"
NO_TLS = "internal error: no tls service found, unable to update tls files"
PKI = "pki"  # the daemon's folder mounted on its /etc/pki


def pki_of(daemon) -> Path:
    """The folder the daemon sees as /etc/pki, as seen from outside its namespace."""
    return daemon.root / PKI


@pytest.fixture(scope="module")
def authorities(tmp_path_factory):
    """Two unrelated CAs, each with a server and a client certificate: before and after rotation."""
    folder = tmp_path_factory.mktemp("pki")
    return tls.Pki.create(folder / "old", "Old"), tls.Pki.create(folder / "new", "New")


def tls_daemon_on(port: int) -> Daemon:
    """libvirtd with the secret driver, to serve TLS clients on 127.0.0.1:port only (not started)."""
    return Daemon(
        drivers=("secret",),
        args=("--listen",),
        config={
            "listen_tls": 1,
            "listen_tcp": 0,
            "listen_addr": "127.0.0.1",
            "tls_port": str(port),
            "auth_tls": "none",
        },
        extra_mounts={PKI: "/etc/pki"},
    )


@pytest.fixture
def tls_daemon(authorities):
    """tls_daemon_on a free port, started with the old CA's certificates in its own /etc/pki."""
    port = free_port()
    daemon = tls_daemon_on(port)
    try:
        authorities[0].install_server(pki_of(daemon))
        daemon.start()
        daemon.tls_port = port
        yield daemon
    finally:
        daemon.stop()


def client(daemon, pki, timeout: float = 10) -> dict:
    """A TLS client trusting pki's CA only, presenting pki's client certificate."""
    return {
        "uri": f"secret+tls://127.0.0.1:{daemon.tls_port}/system?pkipath={pki.client_dir}",
        "timeout": timeout,
    }


def connects(daemon, pki) -> tuple:
    """Whether a new TLS client trusting pki's CA is served, and libvirt's error if not."""
    with Clients([client(daemon, pki)]) as clients:
        return clients.opened[0], clients.errors[0]


def served(daemon) -> str:
    return tls.served_fingerprint(daemon.tls_port)


def virt_admin_update_tls(daemon, server: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["virt-admin", "-c", daemon.uri, "server-update-tls", server],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_rotation_reaches_new_clients_only_after_the_reload(tls_daemon, authorities):
    old, new = authorities
    pid = tls_daemon.pid
    assert old.fingerprint != new.fingerprint
    with Clients([client(tls_daemon, old)]) as held:  # a connection from before the rotation
        assert held.opened == [True], held.errors
        assert served(tls_daemon) == old.fingerprint
        assert connects(tls_daemon, new) == (False, "authentication failed: Failed to verify peer's certificate")

        new.install_server(pki_of(tls_daemon))  # rotated on disk, not reloaded: nothing changes for clients
        assert served(tls_daemon) == old.fingerprint
        assert connects(tls_daemon, new)[0] is False

        check = run_module(MODULE, {"uri": tls_daemon.uri}, check=True)
        assert (check.changed, check.failed, check["reloaded"]) == (True, False, False), check
        assert served(tls_daemon) == old.fingerprint, "check mode reloaded"
        assert connects(tls_daemon, new)[0] is False

        apply = run_module(MODULE, {"uri": tls_daemon.uri})
        assert (apply.changed, apply.failed) == (True, False), apply
        assert (apply["server"], apply["reloaded"]) == ("libvirtd", True)
        assert "diff" not in apply
        assert served(tls_daemon) == new.fingerprint
        assert connects(tls_daemon, new) == (True, None)
        assert connects(tls_daemon, old) == (False, "authentication failed: Failed to verify peer's certificate")
        assert held.probe() == [True]  # open connections stay open
    assert tls_daemon.pid == pid and tls_daemon.process.poll() is None  # no restart

    again = run_module(MODULE, {"uri": tls_daemon.uri, "server": "libvirtd"})
    assert (again.changed, again["reloaded"]) == (True, True)  # not idempotent: every run reloads
    assert served(tls_daemon) == new.fingerprint


def test_files_that_do_not_load_keep_the_old_certificate(tls_daemon, authorities):
    old, new = authorities
    new.install_server(pki_of(tls_daemon), cacert=old.cacert)  # the new server certificate, the old CA: unsigned
    result = run_module(MODULE, {"uri": tls_daemon.uri})
    assert result.failed and not result.changed, result
    reason = (
        "Our own certificate /etc/pki/libvirt/servercert.pem failed validation against /etc/pki/CA/cacert.pem: "
        "The certificate hasn't got a known issuer."
    )
    assert result.msg == (
        f"Cannot reload the TLS files of server 'libvirtd' of the daemon at {tls_daemon.uri}: {reason}; "
        "the server keeps serving the TLS files it had loaded before: fix the files on the daemon's host and "
        "run the task again"
    )
    assert result["libvirt_error_code"] == 38
    assert served(tls_daemon) == old.fingerprint
    assert connects(tls_daemon, old) == (True, None)


@pytest.mark.parametrize("check", [False, True])
def test_admin_server_has_no_tls(tls_daemon, authorities, check):
    witness = virt_admin_update_tls(tls_daemon, "admin")  # libvirt's own answer
    assert witness.returncode == 1 and f"error: {NO_TLS}" in witness.stderr
    authorities[1].install_server(pki_of(tls_daemon))
    result = run_module(MODULE, {"uri": tls_daemon.uri, "server": "admin"}, check=check)
    assert result.failed and not result.changed, result
    assert result.msg == (
        f"Cannot reload the TLS files of server 'admin' of the daemon at {tls_daemon.uri}: the admin server has "
        "no TLS listener (it only serves the daemon's local admin socket); TLS clients are served by server "
        "'libvirtd', and only when the daemon listens for them"
    )
    assert served(tls_daemon) == authorities[0].fingerprint  # the libvirtd server did not reload either


def test_daemon_without_tls_listener(daemon):
    witness = virt_admin_update_tls(daemon, "libvirtd")
    assert witness.returncode == 1 and f"error: {NO_TLS}" in witness.stderr
    result = run_module(MODULE, {"uri": daemon.uri})
    assert result.failed and not result.changed, result
    assert result.msg == (
        f"Cannot reload the TLS files of server 'libvirtd' of the daemon at {daemon.uri}: {NO_TLS}; "
        "server 'libvirtd' has no TLS listener; the daemon must listen for TLS clients: set listen_tls = 1 in its "
        "configuration file and start it with --listen, or, where systemd starts it, enable its -tls.socket unit "
        "(libvirtd-tls.socket, virtproxyd-tls.socket)"
    )
    assert result["libvirt_error_code"] == 1


# The harness's own guards, which these tests lean on


def test_start_fails_when_the_tls_port_is_taken(authorities):
    """libvirtd binds its TLS port after its admin socket is up and exits when the port is taken: start()
    waits for the TLS listener too and says why, instead of handing out a daemon that is gone."""
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        daemon = tls_daemon_on(port)
        authorities[0].install_server(pki_of(daemon))
        with pytest.raises(DaemonError, match="Unable to bind to port: Address already in use"):
            daemon.start()
    assert not daemon.root.exists()


def test_a_free_port_is_reserved_for_its_process():
    """A port free_port() gave this process is not given to another test process (an xdist worker)."""
    port = free_port()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from tests.harness import ports; ports.FIRST, ports.LAST = {port}, {port + 1}; print(ports.free_port())",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert child.returncode == 1 and f"no free TCP port on 127.0.0.1 between {port} and {port + 1}" in child.stderr
