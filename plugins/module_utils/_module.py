# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The base every module of the collection is built on: the shared
connection options, one connection per task, and the one fail helper."""

from __future__ import annotations

import re
from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_ACCESS_DENIED,
    ERR_AUTH_FAILED,
    ERR_NO_SERVER,
    AdminConnection,
    LibvirtAdminError,
    version_number,
    version_string,
)

# The unit tests swap this for a fake with the same interface.
open_connection = AdminConnection

CONNECTION_ARGSPEC = {
    "uri": {"type": "str"},
    "daemon": {"type": "str"},
}
SERVER_ARGSPEC = {
    "server": {"type": "str"},
}

_DAEMON_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _hint(error: LibvirtAdminError) -> str:
    """What the user can do about a libvirt error, where we know."""
    text = error.message
    connecting = "Failed to connect socket" in text
    if error.code in (ERR_ACCESS_DENIED, ERR_AUTH_FAILED) or (connecting and "Permission denied" in text):
        return (
            "only the daemon's own user may use its admin socket (root for a system daemon): "
            "run the task with become: true, or use the session URI of your own daemon"
        )
    if connecting and ("No such file" in text or "Connection refused" in text):
        return "is the daemon running? Start it, or point uri or daemon at a daemon that runs"
    if "URI" in text:
        return (
            "give an admin URI such as libvirtd:///system, virtqemud:///system or "
            "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
        )
    if error.code == ERR_NO_SERVER:
        return "set server to one of the daemon's servers"
    return ""


class AdminModule(AnsibleModule):
    """AnsibleModule with the connection options merged in."""

    def __init__(self, argument_spec: dict, mutually_exclusive=None, **kwargs) -> None:
        spec = {**CONNECTION_ARGSPEC, **argument_spec}
        exclusive = [("uri", "daemon"), *(mutually_exclusive or [])]
        super().__init__(argument_spec=spec, mutually_exclusive=exclusive, **kwargs)
        daemon = self.params["daemon"]
        if daemon is not None and not _DAEMON_NAME.fullmatch(daemon):
            self.fail_json(
                msg=f"daemon must be the name of a libvirt daemon such as libvirtd or virtqemud, got {daemon!r}; "
                "for anything else give the full admin URI in uri"
            )

    @property
    def uri(self) -> str | None:
        """The admin URI to open; None means libvirt's default."""
        if self.params["daemon"]:
            return f"{self.params['daemon']}:///system"
        return self.params["uri"]

    def target(self, server: str | None = None) -> str:
        where = f"the daemon at {self.uri}" if self.uri else "the daemon at libvirt's default admin URI"
        return f"server '{server}' of {where}" if server else where

    def fail_admin(self, action: str, error: LibvirtAdminError, server: str | None = None, **result) -> None:
        """The one way this collection fails a task on a libvirt error.

        action ends with its preposition: "change the thread pool of", "connect to".
        """
        msg = f"Cannot {action} {self.target(server)}: {error.message}"
        hint = _hint(error)
        if hint:
            msg += f"; {hint}"
        self.fail_json(msg=msg, libvirt_error_code=error.code, **result)

    @contextmanager
    def failing_as(self, action: str, server: str | None = None, note: str | None = None):
        """Run the block; a LibvirtAdminError fails the task via fail_admin
        (note, if given, says what state that leaves things in)."""
        try:
            yield
        except LibvirtAdminError as error:
            if note:
                error = LibvirtAdminError(f"{error.message} ({note})", error.code)
            self.fail_admin(action, error, server)

    @contextmanager
    def connection(self, opener=None):
        """One admin connection for the task, closed whatever happens; opener (default
        open_connection) opens it: _clientcalls.ClientConnection for the per-client calls."""
        with self.failing_as("connect to"):
            conn = (opener or open_connection)(self.uri)
        try:
            yield conn
        finally:
            conn.close()

    def require_daemon_version(self, conn, minimum: str, feature: str, remedy: str = "upgrade libvirt there") -> None:
        """Fail, naming the version, when the daemon is older than a feature needs."""
        with self.failing_as("read the version of"):
            running = conn.daemon_version()
        if running < version_number(minimum):
            self.fail_json(
                msg=f"{feature} needs libvirt {minimum} or newer on the daemon; {self.target()} runs "
                f"{version_string(running)}: {remedy}"
            )
