# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Servers of a daemon: choosing one, and describing them as plain dicts.

Functions take any object with the AdminConnection interface (the real
binding, or the fake one the unit tests use).
"""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ADMIN_SERVER,
    ERR_NO_SERVER,
    LibvirtAdminError,
)

# snake_case key -> libvirt's typed-parameter field
THREADPOOL_SETTINGS = {
    "min_workers": "minWorkers",
    "max_workers": "maxWorkers",
    "prio_workers": "prioWorkers",
}
THREADPOOL_COUNTERS = {
    "workers": "nWorkers",
    "free_workers": "freeWorkers",
    "job_queue_depth": "jobQueueDepth",
}
CLIENT_LIMIT_SETTINGS = {
    "max_clients": "nclients_max",
    "max_unauth_clients": "nclients_unauth_max",
}
CLIENT_LIMIT_COUNTERS = {
    "clients": "nclients",
    "unauth_clients": "nclients_unauth",
}


def _unknown_server(name: str, names: list) -> LibvirtAdminError:
    listed = ", ".join(sorted(names)) if names else "none"
    return LibvirtAdminError(
        f"the daemon has no server named '{name}'; its servers are: {listed}",
        ERR_NO_SERVER,
    )


def resolve_server(conn, requested: str | None) -> str:
    """The server to act on: the one requested (checked to exist), or the
    daemon's own server (the first that is not 'admin')."""
    names = conn.list_servers()
    if requested is None:
        own = [name for name in names if name != ADMIN_SERVER]
        if not own:
            raise _unknown_server("<the daemon's own server>", names)
        return own[0]
    if requested not in names:
        raise _unknown_server(requested, names)
    return requested


def _rename(raw: dict, mapping: dict) -> dict:
    return {key: raw.get(field) for key, field in mapping.items()}


def read_threadpool(conn, server: str) -> dict:
    """Settings and counters of a server's worker pool, snake_case keys."""
    raw = conn.get_threadpool(server)
    return {**_rename(raw, THREADPOOL_SETTINGS), **_rename(raw, THREADPOOL_COUNTERS)}


def read_client_limits(conn, server: str) -> dict:
    """Client limits and current client counts of a server."""
    raw = conn.get_client_limits(server)
    return {
        "max_clients": raw.get("nclients_max"),
        "clients": raw.get("nclients"),
        "max_unauth_clients": raw.get("nclients_unauth_max"),
        "unauth_clients": raw.get("nclients_unauth"),
    }


def is_exhausted(threadpool: dict) -> bool:
    """Every worker busy and no more will be started: the next job waits. That is the case at
    max_workers, and also below it while jobs are queued: libvirt starts a worker for a new job only
    when the queue is no longer than the free workers (virThreadPoolSendJob), so with none free and
    jobs waiting, raising max_workers alone starts no worker (raising min_workers does)."""
    if not threadpool["max_workers"] or threadpool["free_workers"] != 0:
        return False
    return threadpool["workers"] >= threadpool["max_workers"] or threadpool.get("job_queue_depth", 0) > 0


def describe_server(conn, name: str) -> dict:
    """One server as libvirt_admin_server_info returns it."""
    threadpool = read_threadpool(conn, name)
    threadpool["busy_workers"] = max(threadpool["workers"] - threadpool["free_workers"], 0)
    return {
        "name": name,
        "threadpool": threadpool,
        "clients": read_client_limits(conn, name),
        "exhausted": is_exhausted(threadpool),
    }


def describe_servers(conn, requested: list | None) -> list:
    """The requested servers (all when None), in the daemon's order."""
    names = conn.list_servers()
    for name in requested or []:
        if name not in names:
            raise _unknown_server(name, names)
    wanted = names if not requested else [name for name in names if name in requested]
    return [describe_server(conn, name) for name in wanted]
