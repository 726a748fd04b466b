"""The independent witness: virt-admin, the libvirt project's own CLI.

Tests verify the daemon's state through it, never through the module
under test. Each function takes an admin URI (the system's virt-admin is run
against it) or a fleet host (its virt_admin() method: a ReleaseHost runs its
release's own virt-admin inside the host).
"""

from __future__ import annotations

import subprocess


def virt_admin(uri, *args: str) -> str:
    if not isinstance(uri, str):  # a fleet host
        return uri.virt_admin(*args)
    completed = subprocess.run(
        ["virt-admin", "-c", uri, *args], capture_output=True, text=True, timeout=30, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(f"virt-admin {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


def _key_values(text: str, convert=int) -> dict:
    values = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            values[key.strip()] = convert(value.strip())
    return values


def threadpool(uri: str, server: str) -> dict:
    """srv-threadpool-info, with libvirt's field names (minWorkers, ...)."""
    return _key_values(virt_admin(uri, "srv-threadpool-info", server))


def settings(uri: str, server: str) -> dict:
    """The settable part of a thread pool, as (min, max, prio)."""
    pool = threadpool(uri, server)
    return pool["minWorkers"], pool["maxWorkers"], pool["prioWorkers"]


def client_limits(uri: str, server: str) -> dict:
    """srv-clients-info (nclients_max, nclients, ...)."""
    return _key_values(virt_admin(uri, "srv-clients-info", server))


def servers(uri: str) -> list:
    """srv-list, in order."""
    lines = virt_admin(uri, "srv-list").splitlines()[2:]
    return [line.split()[1] for line in lines if line.strip()]


def daemon_version(uri: str) -> str:
    """The daemon's libvirt version as virt-admin's `version` prints it."""
    for line in virt_admin(uri, "version").splitlines():
        if line.startswith("Running against daemon:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("virt-admin version did not name the daemon's version")


def client_ids(uri: str, server: str) -> list:
    """srv-clients-list: the ids of the server's clients, in order."""
    lines = virt_admin(uri, "srv-clients-list", server).splitlines()[2:]
    return [int(line.split()[0]) for line in lines if line.strip()]


def client_info(uri: str, server: str, client_id: int) -> dict:
    """client-info, as strings (id, connection_time, transport, readonly, sock_addr, unix_user_id, ...)."""
    return _key_values(virt_admin(uri, "client-info", server, str(client_id)), convert=str)


def log_outputs(uri: str) -> str:
    """daemon-log-outputs, the daemon's string as it stores it."""
    return virt_admin(uri, "daemon-log-outputs").split(":", 1)[1].strip()


def log_filters(uri: str) -> str:
    """daemon-log-filters, the daemon's string as it stores it (matches wrapped in *)."""
    return virt_admin(uri, "daemon-log-filters").split(":", 1)[1].strip()
