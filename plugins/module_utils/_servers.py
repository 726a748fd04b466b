# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Servers of a daemon: choosing one, and describing them as plain dicts.

Functions take any _admin.AdminConnection (either backend, or the unit tests' fake).
"""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    ERR_NO_SERVER,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import CLIENTS, THREADPOOL, from_fields


def _unknown_server(name: str, names: list) -> LibvirtAdminError:
    listed = ", ".join(sorted(names)) if names else "none"
    return LibvirtAdminError(
        f"the daemon has no server named '{name}'; its servers are: {listed}",
        ERR_NO_SERVER,
    )


def resolve_server(names: list, requested: str | None) -> str:
    """The server to act on, of the daemon's servers `names`: the one requested (checked to exist),
    or the daemon's own server (the first that is not 'admin')."""
    if requested is None:
        own = [name for name in names if name != ADMIN_SERVER]
        if not own:
            raise _unknown_server("<the daemon's own server>", names)
        return own[0]
    if requested not in names:
        raise _unknown_server(requested, names)
    return requested


def read_threadpool(conn, server: str) -> dict:
    """Settings and counters of a server's worker pool, by our names."""
    return from_fields(THREADPOOL, conn.get_threadpool(server))


def read_client_limits(conn, server: str) -> dict:
    """Client limits and current client counts of a server, by our names."""
    return from_fields(CLIENTS, conn.get_client_limits(server))


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
