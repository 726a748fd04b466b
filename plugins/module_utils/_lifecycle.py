# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The daemon's life: its idle timeout (virAdmConnectSetDaemonTimeout, libvirt 8.6.0), its shutdown
(virAdmConnectDaemonShutdown, libvirt 11.2.0), and telling whether a daemon runs behind an admin
socket at all. Functions take any _admin.AdminConnection, or a function that opens one."""

from __future__ import annotations

import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    UINT_MAX,
    LibvirtAdminError,
)

DAEMON_TIMEOUT_SINCE = "8.6.0"
DAEMON_SHUTDOWN_SINCE = "11.2.0"
# How often a daemon asked to shut down is tried, and how long one try may take: a try that gets no
# answer within it counts as one the daemon no longer answers.
POLL_INTERVAL = 0.1
PROBE_TIMEOUT = 5.0
# What libvirt says when nothing serves an admin socket: the file is not there, or nothing listens on it.
FAILED_TO_CONNECT = "Failed to connect socket"
NOTHING_THERE = ("No such file or directory", "Connection refused")


def check_seconds(name: str, value) -> int:
    """value, when it is a whole number of seconds as libvirt takes it (0 to 4294967295); else
    LibvirtAdminError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT_MAX:
        raise LibvirtAdminError(
            f"{name} must be a whole number of seconds from 0 to {UINT_MAX}, got {value!r}", ERR_INVALID_ARG
        )
    return value


def not_running(error: LibvirtAdminError) -> bool:
    """Whether a failed connection attempt means that no daemon runs there: its admin socket does not
    exist, or nothing listens on it (a socket left behind by a daemon that is gone)."""
    text = error.message
    return FAILED_TO_CONNECT in text and any(reason in text for reason in NOTHING_THERE)


def wait_until_gone(
    open_connection, wait: float, interval: float = POLL_INTERVAL, clock=time.monotonic, sleep=time.sleep
):
    """Try to connect (open_connection(timeout) -> an AdminConnection) until an attempt fails, for up
    to wait seconds. Returns the seconds it took, or None when the daemon still answered after wait."""
    start = clock()
    while True:
        elapsed = clock() - start
        try:
            conn = open_connection(max(min(PROBE_TIMEOUT, wait - elapsed), interval))
        except LibvirtAdminError:
            return clock() - start
        conn.close()
        if clock() - start >= wait:
            return None
        sleep(interval)
