# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The base every module of the collection is built on: the shared
connection options, one connection per task, and the one fail helper."""

from __future__ import annotations

from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _admin
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    BACKENDS,
    DAEMON_NAME,
    DEFAULT_TIMEOUT,
    ERR_ACCESS_DENIED,
    ERR_AUTH_FAILED,
    ERR_NO_SERVER,
    ERR_OPERATION_TIMEOUT,
    LibvirtAdminError,
    version_number,
    version_string,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._discovery import system_uri
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._lifecycle import not_running

CONNECTION_ARGSPEC = {
    "uri": {"type": "str"},
    "daemon": {"type": "str"},
    "backend": {
        "type": "str",
        "choices": list(BACKENDS),
        "default": "auto",
        "fallback": (env_fallback, ["LIBVIRT_ADMIN_BACKEND"]),
    },
    "timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
}
SERVER_ARGSPEC = {
    "server": {"type": "str"},
}
# What libvirt's RPC layer says when a socket serves another program than the admin API's.
NOT_ADMIN_PROGRAM = "Cannot find program"


def _hint(error: LibvirtAdminError) -> str:
    """What the user can do about a libvirt error, where we know."""
    text = error.message
    connecting = "Failed to connect socket" in text
    if error.code in (ERR_ACCESS_DENIED, ERR_AUTH_FAILED) or (connecting and "Permission denied" in text):
        return (
            "only the daemon's own user may use its admin socket (root for a system daemon): "
            "run the task with become: true, or use the session URI of your own daemon"
        )
    if not_running(error):
        return "is the daemon running? Start it, or point uri or daemon at a daemon that runs"
    if NOT_ADMIN_PROGRAM in text:
        return (
            "that socket serves libvirt's main API, not the admin API: give the daemon's admin socket, "
            "<prefix>-admin-sock, such as libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
        )
    if error.code == ERR_OPERATION_TIMEOUT:
        return (
            "a daemon that accepts the connection but never answers may have all of its admin server's clients "
            "or workers taken (admin_max_clients, admin_max_workers): restart it, or raise timeout if it is "
            "only slow"
        )
    if "URI" in text:
        return (
            "give an admin URI such as libvirtd:///system, virtqemud:///system or "
            "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
        )
    if error.code == ERR_NO_SERVER:
        return "set server to one of the daemon's servers"
    return ""


def _sockets_here() -> str:
    """The admin sockets that do exist, for a task that found none at its URI."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._discovery import SYSTEM_RUN_DIR, discover

    found = [uri.partition("?socket=")[2] for daemon, uri in discover()]
    if not found:
        return f"there is no admin socket in {SYSTEM_RUN_DIR} on this host"
    return "the admin sockets on this host are " + ", ".join(found)


class AdminModule(AnsibleModule):
    """AnsibleModule with the connection options merged in."""

    backend = None  # the backend of the task's connection, once opened

    def __init__(self, argument_spec: dict, mutually_exclusive=None, **kwargs) -> None:
        spec = {**CONNECTION_ARGSPEC, **argument_spec}
        exclusive = [("uri", "daemon"), *(mutually_exclusive or [])]
        super().__init__(argument_spec=spec, mutually_exclusive=exclusive, **kwargs)
        daemon = self.params["daemon"]
        if daemon is not None and not DAEMON_NAME.fullmatch(daemon):
            self.fail_json(
                msg=f"daemon must be the name of a libvirt daemon such as libvirtd or virtqemud, got {daemon!r}; "
                "for anything else give the full admin URI in uri"
            )
        if not self.params["timeout"] > 0:
            self.fail_json(msg=f"timeout must be a number of seconds above 0, got {self.params['timeout']}")

    @property
    def uri(self) -> str | None:
        """The admin URI to open; None means libvirt's default."""
        if self.params["daemon"]:
            return system_uri(self.params["daemon"])
        return self.params["uri"]

    @property
    def timeout(self) -> float:
        """Seconds any admin call, and any wait for a config file's lock, may take."""
        return self.params["timeout"]

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

    def open(self, uri: str | None = None, timeout: float | None = None):
        """An admin connection to uri (default: the task's), by the task's backend, whose calls may take
        timeout seconds (default: the task's); the result says which backend ran."""
        conn = _admin.open_connection(
            self.uri if uri is None else uri, self.params["backend"], self.timeout if timeout is None else timeout
        )
        self.backend = conn.backend
        return conn

    @contextmanager
    def connection(self):
        """One admin connection for the task, closed whatever happens."""
        try:
            conn = self.open()
        except LibvirtAdminError as error:
            if not_running(error):
                error = LibvirtAdminError(f"{error.message}; {_sockets_here()}", error.code)
            self.fail_admin("connect to", error)
        try:
            yield conn
        finally:
            conn.close()

    def exit_json(self, **result) -> None:
        if self.backend is not None:
            result.setdefault("backend", self.backend)
        super().exit_json(**result)

    def fail_json(self, msg, **result) -> None:
        if self.backend is not None:
            result.setdefault("backend", self.backend)
        super().fail_json(msg, **result)

    def require_daemon_version(self, conn, minimum: str, feature: str, remedy: str = "upgrade libvirt there") -> None:
        """Fail, naming the version, when the daemon is older than a feature needs."""
        with self.failing_as("read the version of"):
            running = conn.daemon_version()
        if running < version_number(minimum):
            self.fail_json(
                msg=f"{feature} needs libvirt {minimum} or newer on the daemon; {self.target()} runs "
                f"{version_string(running)}: {remedy}"
            )
