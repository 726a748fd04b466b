# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Finding the libvirt daemons of a host by their admin sockets, and the admin socket of a daemon by
its name."""

from __future__ import annotations

import os
import stat

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ADMIN_SERVER, DAEMON_NAME

SYSTEM_RUN_DIR = "/run/libvirt"
SOCKET_SUFFIX = "-admin-sock"
# Socket prefix -> daemon: libvirtd (and virtproxyd, which stands in for it on
# modular hosts) use "libvirt"; every other daemon its own name.
SHARED_PREFIX = "libvirt"
PREFIX_DAEMON = {SHARED_PREFIX: "libvirtd"}
# Daemons whose admin socket is not the one libvirt's admin library derives from the URI's scheme
# (libvirt-admin-sock for libvirtd, <scheme>-admin-sock for any other): virtproxyd serves
# libvirt-admin-sock (its sockets take the prefix of the libvirtd it stands in for), while the
# library takes virtproxyd:///system to /run/libvirt/virtproxyd-admin-sock [seen 9.0, 11.3, 12.8].
SOCKET_PREFIX = {"virtproxyd": SHARED_PREFIX}


def system_uri(daemon: str) -> str:
    """The admin URI of a system daemon by its name: <daemon>:///system, with the socket named where
    libvirt's library would look for another one."""
    prefix = SOCKET_PREFIX.get(daemon)
    if prefix is None:
        return f"{daemon}:///system"
    return f"{daemon}:///system?socket={SYSTEM_RUN_DIR}/{prefix}{SOCKET_SUFFIX}"


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


def named_by_servers(daemon: str, uri: str, servers: list) -> tuple:
    """(daemon, uri) of a discovered socket, once its servers are known: the shared libvirt-admin-sock is
    libvirtd's or virtproxyd's, and the daemon's own server (the first that is not 'admin') says which.
    Any other socket keeps the name it has."""
    if daemon != PREFIX_DAEMON[SHARED_PREFIX] or not uri.partition("?socket=")[2].endswith(
        f"/{SHARED_PREFIX}{SOCKET_SUFFIX}"
    ):
        return daemon, uri
    own = next((name for name in servers if name != ADMIN_SERVER), None)
    if own is None or own == daemon or not DAEMON_NAME.fullmatch(own):
        return daemon, uri
    return own, own + uri[len(daemon) :]


def discover() -> list:
    """Every daemon with an admin socket: the system ones, then the caller's session ones."""
    found = admin_sockets(SYSTEM_RUN_DIR, "system")
    session = session_run_dir()
    if session:
        found += admin_sockets(session, "session")
    return found
