"""The same seam calls through one backend, in a process of its own, as data to compare.

    results = run_calls("library", "11.3", uri, [["list_servers"], ["get_threadpool", "nosuch"]])

runs the steps on one connection opened by the backend ("protocol": _protocol.ProtocolConnection;
"library": _library.LibraryConnection, with libvirt-admin.so of the given version on
LD_LIBRARY_PATH), and returns one result per step: {"value": ...} (JSON-ready) or
{"error": [code, domain, message]}. The first result is the open's. Steps are seam calls by name
with their arguments, and these, which work on the last listing of clients:

    ["clients", server]                 the listing: [[id, transport], ...] (timestamps vary)
    ["client_info", index]              that client's info (process ids named, see below)
    ["close_client", index]
    ["client_info_until_gone", index]   client_info until it fails (the client leaving), that error

Process ids in client info are named: "held" for `held_pid` (the test's clients), "self" for this
process, "other" for any other, so that results of different runs compare.

Inside a fleet host (tests.harness.fleet: a Host or a ReleaseHost of another Debian release), with the
host's own /usr/bin/python3 and libvirt-admin.so.0, against the host's own daemon:

    folder = install_in_host(host)     # the collection's module_utils and this file, into the host's /tmp
    results = run_calls_in_host(host, "protocol", "libvirtd:///system", steps)

This file is that copy's entry point too: it needs the standard library only, and runs on Python 3.8+.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where the collection's package sits in the copy inside a host (beside tests/harness/backend_calls.py).
PACKAGE = "ansible_collections/virtops/libvirt_admin/plugins/module_utils"
# A clean environment inside the host: nothing of the test process's (LD_LIBRARY_PATH, LIBVIRT_ADMIN_*).
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run_calls(backend: str, version: str | None, uri: str | None, steps: list, held_pid: int = 0) -> list:
    from tests.harness.ansible import collections_path
    from tests.harness.libvirt_versions import Libvirt

    env = {**os.environ, **(Libvirt.get(version).env() if backend == "library" else {})}
    env["PYTHONPATH"] = os.pathsep.join([collections_path(), str(REPO)])
    spec = {"backend": backend, "uri": uri, "steps": steps, "held_pid": held_pid}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.harness.backend_calls", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(f"the {backend} run failed ({completed.returncode}): {completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def host_folder(host) -> str:
    """The copy's folder inside the host: in a release host's /tmp (a tmpfs of its own, gone with the host);
    in a host of the machine's own release, which sees the machine's /tmp, the host's own folder there
    (removed with the host, by Fleet.stop or reap_stale_fleet)."""
    if host.release.machine:
        return str(host.root / "backend-calls")
    return "/tmp/virtops-backend-calls"


def install_in_host(host) -> str:
    """Copy plugins/module_utils/*.py (as the package ansible_collections.virtops.libvirt_admin...) and
    this file into the host's /tmp, with an empty file `file` beside them; returns the folder inside."""
    folder = host_folder(host)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted((REPO / "plugins" / "module_utils").glob("*.py")):
            tar.add(str(path), f"{PACKAGE}/{path.name}")
        tar.add(str(Path(__file__)), "tests/harness/backend_calls.py")
        empty = tarfile.TarInfo("file")
        tar.addfile(empty, io.BytesIO(b""))
    script = 'rm -rf "$1" && mkdir -p "$1" && tar -x -C "$1"'
    completed = host.run(["sh", "-c", script, "sh", folder], input=buffer.getvalue(), text=False)
    if completed.returncode != 0:
        raise RuntimeError(f"copying the calls into {host.name} failed: {completed.stderr.decode(errors='replace')}")
    return folder


def _in_host(host, *argv: str) -> list:
    """argv for host.run: the host's own /usr/bin/python3, in a clean environment with the copy on its path;
    what the release's Python deprecates fails the run (the next Python may have removed it)."""
    env = ["env", "-i", f"PATH={HOST_PATH}", "HOME=/root", "LANG=C.UTF-8", f"PYTHONPATH={host_folder(host)}"]
    return [*env, "PYTHONDONTWRITEBYTECODE=1", "/usr/bin/python3", "-W", "error::DeprecationWarning", *argv]


def host_python(host, code: str) -> subprocess.CompletedProcess:
    """The host's own python3 running code, as run_calls_in_host runs the calls."""
    return host.run(_in_host(host, "-c", code), timeout=300)


def run_calls_in_host(host, backend: str, uri: str | None, steps: list, held_pid: int = 0) -> list:
    """run_calls inside the host (install_in_host first): the host's python3, its libvirt-admin.so.0 for the
    library backend, its daemon at uri as the host sees it. A run that fails raises with its traceback."""
    spec = {"backend": backend, "uri": uri, "steps": steps, "held_pid": held_pid}
    script = f"{host_folder(host)}/tests/harness/backend_calls.py"
    completed = host.run(_in_host(host, script, json.dumps(spec)), timeout=300)
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(
            f"the {backend} run on {host.name} ({host.release.suite}, Python {host.release.python_version}) "
            f"failed ({completed.returncode}):\n{completed.stderr}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _named_pids(value, held_pid: int):
    if isinstance(value, dict) and "unix_process_id" in value:
        pid = value["unix_process_id"]
        name = "held" if pid == held_pid else "self" if pid == os.getpid() else "other"
        value = {**value, "unix_process_id": name}
    return value


def _child(spec: dict) -> list:
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError

    if spec["backend"] == "library":
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import (
            LibraryConnection as Connection,
        )
    else:
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import (
            ProtocolConnection as Connection,
        )

    def error_of(error: LibvirtAdminError) -> dict:
        return {"error": [error.code, error.domain, error.message]}

    try:
        conn = Connection(spec["uri"], timeout=30)
    except LibvirtAdminError as error:
        return [error_of(error)]
    results = [{"value": "opened"}]
    listing: list = []
    scope = None
    for name, *args in spec["steps"]:
        try:
            if name == "clients":
                if scope is not None:
                    scope.__exit__(None, None, None)
                scope = conn.clients(*args)
                listing = scope.__enter__()
                value = [[client.id, client.transport] for client in listing]
            elif name in ("client_info", "close_client"):
                value = getattr(conn, name)(listing[args[0]])
            elif name == "client_info_until_gone":
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    conn.client_info(listing[args[0]])
                    time.sleep(0.02)
                value = "still there"
            else:
                value = getattr(conn, name)(*args)
            results.append({"value": _named_pids(value, spec["held_pid"])})
        except LibvirtAdminError as error:
            results.append(error_of(error))
    if scope is not None:
        scope.__exit__(None, None, None)
    conn.close()
    return results


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
