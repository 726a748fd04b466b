# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A server's worker pool: validate a desired state against the current one,
apply only the difference in one call, and put things back if that call
fails half-way (the daemon applies min, then max, then prio, and stops at the
first failure)."""

from __future__ import annotations

import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_INVALID_ARG,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import THREADPOOL_SETTINGS, read_threadpool
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import (
    changes_between,
    check_uint_settings,
    described,
    read_back,
)

# prioWorkers reads back the number of priority threads, which lags a
# decrease while the surplus threads exit.
SETTLE_SECONDS = 2.0
# min_workers and prio_workers threads are started at once: libvirtd aborts on absurd counts (seen:
# 4294967295 kills libvirt 9.0 and 11.3). A pool of this size is already far beyond any real host.
MAX_STARTED_THREADS = 100000
SETTLE_INTERVAL = 0.02


def validate(current: dict, desired: dict) -> dict:
    """The merged settings (desired over current), or LibvirtAdminError saying
    what is wrong and what to do."""
    check_uint_settings(desired, THREADPOOL_SETTINGS, "thread pool setting")
    for key in ("min_workers", "prio_workers"):
        if desired.get(key, 0) > MAX_STARTED_THREADS:
            raise LibvirtAdminError(
                f"{key} {desired[key]} would make the daemon start that many threads at once, which kills it "
                f"(libvirt aborts when it cannot allocate them); keep {key} at or below {MAX_STARTED_THREADS}",
                ERR_INVALID_ARG,
            )
    merged = {key: desired.get(key, current[key]) for key in THREADPOOL_SETTINGS}
    if current["max_workers"] == 0 and merged != {key: current[key] for key in THREADPOOL_SETTINGS}:
        raise LibvirtAdminError(
            "this server's thread pool is fixed: it runs without worker threads (max_workers 0), as the servers "
            "of virtlogd and virtlockd do, and its pool cannot be changed at runtime; leave this server out",
            ERR_INVALID_ARG,
        )
    if merged["max_workers"] == 0 and current["max_workers"] != 0:
        raise LibvirtAdminError(
            "max_workers 0 would remove the server's worker pool, which a running daemon cannot do; "
            "keep max_workers above 0",
            ERR_INVALID_ARG,
        )
    if merged["min_workers"] > merged["max_workers"]:
        raise LibvirtAdminError(
            f"{described('min_workers', merged, desired)} is larger than "
            f"{described('max_workers', merged, desired)}; set max_workers at least as high as min_workers",
            ERR_INVALID_ARG,
        )
    return merged


def predict(current: dict, changes: dict) -> dict:
    """The pool as it should read after the changes (for check mode)."""
    after = {**current, **changes}
    started = max(after["min_workers"] - current["workers"], 0)
    workers = current["workers"] + started
    free = current["free_workers"] + started
    # Idle workers above a lowered max_workers exit at once; busy ones when their job ends.
    leaving = min(max(workers - after["max_workers"], 0), free)
    after["workers"] = workers - leaving
    after["free_workers"] = free - leaving
    return after


def _settled_read(conn, server: str, changes: dict) -> dict:
    after = read_threadpool(conn, server)
    deadline = time.monotonic() + SETTLE_SECONDS
    while "prio_workers" in changes and after["prio_workers"] > changes["prio_workers"] and time.monotonic() < deadline:
        time.sleep(SETTLE_INTERVAL)
        after = read_threadpool(conn, server)
    return after


def _to_fields(values: dict) -> dict:
    return {THREADPOOL_SETTINGS[key]: value for key, value in values.items()}


def apply(conn, server: str, current: dict, changes: dict) -> dict:
    """Send the changes in one call and return the pool read back.

    When the daemon fails part-way, the settings it did change are set back
    to their values in `current` and the error says so.
    """
    try:
        conn.set_threadpool(server, _to_fields(changes))
    except LibvirtAdminError as error:
        raise _restore(conn, server, current, error) from error
    return read_back(_settled_read, conn, server, changes)


def _restore(conn, server: str, current: dict, error: LibvirtAdminError) -> LibvirtAdminError:
    try:
        now = read_threadpool(conn, server)
        undo = changes_between(now, {key: current[key] for key in THREADPOOL_SETTINGS})
        if undo:
            conn.set_threadpool(server, _to_fields(undo))
    except LibvirtAdminError as restore_error:
        return LibvirtAdminError(
            f"{error.message}; restoring the previous settings also failed: {restore_error.message}; "
            "check the server with libvirt_admin_server_info",
            error.code,
        )
    note = "the settings it had already changed were put back" if undo else "nothing was changed"
    return LibvirtAdminError(f"{error.message} ({note})", error.code)
