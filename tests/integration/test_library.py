"""The library backend (_library, ctypes over libvirt-admin.so.0) itself against a real daemon:
values as virt-admin reads them, errors with libvirt's code and words, nothing printed, nothing
leaked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.harness import witness
from tests.harness.ansible import REPO, collections_path

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (  # isort: skip
    ERR_NO_SERVER,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
    version_string,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import (  # isort: skip
    LibraryConnection as AdminConnection,
)


def test_reads_what_virt_admin_reads(daemon):
    with AdminConnection(daemon.uri) as conn:
        assert conn.list_servers() == witness.servers(daemon.uri)
        assert conn.uri() == daemon.uri
        assert version_string(conn.daemon_version()) == witness.daemon_version(daemon.uri)
        for server in conn.list_servers():
            pool = conn.get_threadpool(server)
            expected = witness.threadpool(daemon.uri, server)
            for field in ("minWorkers", "maxWorkers", "prioWorkers", "nWorkers", "jobQueueDepth"):
                assert pool[field] == expected[field], field
            assert (
                conn.get_client_limits(server)["nclients_max"]
                == witness.client_limits(daemon.uri, server)["nclients_max"]
            )


def test_sets_typed_parameters(daemon):
    with AdminConnection(daemon.uri) as conn:
        conn.set_threadpool("libvirtd", {"minWorkers": 7, "maxWorkers": 70, "prioWorkers": 3})
        conn.set_client_limits("libvirtd", {"nclients_max": 300, "nclients_unauth_max": 30})
    assert witness.settings(daemon.uri, "libvirtd") == (7, 70, 3)
    limits = witness.client_limits(daemon.uri, "libvirtd")
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (300, 30)


def test_errors_carry_libvirts_code_and_words(daemon, tmp_path):
    with AdminConnection(daemon.uri) as conn:
        with pytest.raises(LibvirtAdminError) as raised:
            conn.get_threadpool("nosuch")
        assert raised.value.code == ERR_NO_SERVER
        assert "No server named 'nosuch'" in raised.value.message
    with pytest.raises(LibvirtAdminError) as raised:
        AdminConnection(f"libvirtd:///system?socket={tmp_path}/none")
    assert raised.value.code == ERR_SYSTEM_ERROR
    with pytest.raises(LibvirtAdminError, match="closed"):
        conn.list_servers()


def test_no_leaks_and_no_stderr_over_many_connections(daemon):
    """In one process: 1000 connections, with calls that succeed and calls that
    fail. libvirt prints nothing; while the process still lives the daemon has
    only virt-admin's client (every connection was closed); the process does
    not grow (typed parameters, server handles and strings were freed)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {collections_path()!r})
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import (
            LibraryConnection as AdminConnection)

        def rss_kb():
            with open("/proc/self/status") as status:
                return int(next(l.split()[1] for l in status if l.startswith("VmRSS")))

        def round_trip():
            with AdminConnection({daemon.uri!r}) as conn:
                for server in conn.list_servers():
                    conn.get_threadpool(server)
                    conn.get_client_limits(server)
                try:
                    conn.get_threadpool("nosuch")
                except LibvirtAdminError:
                    pass

        for _ in range(50):
            round_trip()
        start = rss_kb()
        for _ in range(1000):
            round_trip()
        print(rss_kb() - start, flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        growth_kb = int(process.stdout.readline())
        assert witness.client_limits(daemon.uri, "admin")["nclients"] == 1
    finally:
        stderr = process.communicate("", timeout=60)[1]
    assert process.returncode == 0, stderr
    assert stderr == ""
    assert growth_kb < 1024, f"RSS grew by {growth_kb} kB over 1000 connections"
