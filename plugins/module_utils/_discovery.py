# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Finding the libvirt daemons of a host by their admin sockets."""

from __future__ import annotations

import os
import stat

SYSTEM_RUN_DIR = "/run/libvirt"
SOCKET_SUFFIX = "-admin-sock"
# Socket prefix -> daemon: libvirtd (and virtproxyd, which stands in for it on
# modular hosts) use "libvirt"; every other daemon its own name.
PREFIX_DAEMON = {"libvirt": "libvirtd"}


def session_run_dir() -> str | None:
    """The caller's session run folder ($XDG_RUNTIME_DIR/libvirt), for a non-root caller."""
    if os.geteuid() == 0:
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return os.path.join(runtime, "libvirt")


def admin_sockets(run_dir: str, mode: str) -> list:
    """(daemon, admin URI) for every admin socket in run_dir, sorted by daemon name."""
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(run_dir, name)
        if not name.endswith(SOCKET_SUFFIX):
            continue
        try:
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                continue
        except OSError:
            continue
        prefix = name[: -len(SOCKET_SUFFIX)]
        daemon = PREFIX_DAEMON.get(prefix, prefix)
        found.append((daemon, f"{daemon}:///{mode}?socket={path}"))
    return found


def discover() -> list:
    """Every daemon with an admin socket: the system ones, then the caller's session ones."""
    found = admin_sockets(SYSTEM_RUN_DIR, "system")
    session = session_run_dir()
    if session:
        found += admin_sockets(session, "session")
    return found
