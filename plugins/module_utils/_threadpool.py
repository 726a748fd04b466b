# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A server's worker pool as a part of the pipeline: validate a desired state against the current
one, apply only the difference in one call, and put things back if that call fails half-way (the
daemon applies min, then max, then prio, and stops at the first failure)."""

from __future__ import annotations

import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_INVALID_ARG, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import (
    Part,
    changes_between,
    described,
    read_back,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import read_threadpool
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import (
    THREADPOOL,
    check_values,
    names,
    to_fields,
)

# prioWorkers reads back the number of priority threads, which lags a
# decrease while the surplus threads exit.
SETTLE_SECONDS = 2.0
SETTLE_INTERVAL = 0.02
SETTINGS = names(THREADPOOL)


def validate(current: dict, desired: dict) -> dict:
    """The merged settings (desired over current), or LibvirtAdminError saying
    what is wrong and what to do."""
    check_values(THREADPOOL, desired)
    merged = {key: desired.get(key, current[key]) for key in SETTINGS}
    if current["max_workers"] == 0 and merged != {key: current[key] for key in SETTINGS}:
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


def settled_read(conn, server: str, changes: dict) -> dict:
    """The pool read back, once a lowered prio_workers shows (for at most SETTLE_SECONDS)."""
    after = read_threadpool(conn, server)
    deadline = time.monotonic() + SETTLE_SECONDS
    while "prio_workers" in changes and after["prio_workers"] > changes["prio_workers"] and time.monotonic() < deadline:
        time.sleep(SETTLE_INTERVAL)
        after = read_threadpool(conn, server)
    return after


def apply(conn, server: str, current: dict, changes: dict) -> None:
    """Send the changes in one call. When the daemon fails part-way, the settings it did change
    are set back to their values in `current` and the error says so."""
    try:
        conn.set_threadpool(server, to_fields(changes))
    except LibvirtAdminError as error:
        raise _restore(conn, server, current, error) from error


def _restore(conn, server: str, current: dict, error: LibvirtAdminError) -> LibvirtAdminError:
    try:
        now = read_threadpool(conn, server)
        undo = changes_between(now, {key: current[key] for key in SETTINGS})
        if undo:
            conn.set_threadpool(server, to_fields(undo))
    except LibvirtAdminError as restore_error:
        return LibvirtAdminError(
            f"{error.message}; restoring the previous settings also failed: {restore_error.message}; "
            "check the server with libvirt_admin_server_info",
            error.code,
        )
    note = "the settings it had already changed were put back" if undo else "nothing was changed"
    return LibvirtAdminError(f"{error.message} ({note})", error.code)


class ThreadpoolPart(Part):
    what = "thread pool"
    kind = THREADPOOL

    def read(self, conn) -> dict:
        return read_threadpool(conn, self.server)

    def validate(self, current: dict) -> None:
        validate(current, self.desired)

    def predict(self) -> dict:
        return predict(self.before, self.changes)

    def apply(self, conn) -> None:
        apply(conn, self.server, self.before, self.changes)

    def reread(self, conn) -> dict:
        return read_back(settled_read, conn, self.server, self.changes)

    def undo(self, conn) -> None:
        apply(conn, self.server, self.after, {key: self.before[key] for key in self.changes})
