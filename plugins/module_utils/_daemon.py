# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A daemon's whole admin-side state as parts (a server's thread pool, a
server's client limits, the daemon's logging), each read, validated, compared,
predicted and applied by the same module_utils the single-purpose modules use.
Every part is read and validated before any is applied; if applying one fails,
the parts applied before it are put back."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clients, _logging, _threadpool
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_INVALID_ARG,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import (
    CLIENT_LIMIT_SETTINGS,
    THREADPOOL_SETTINGS,
    read_client_limits,
    read_threadpool,
    resolve_server,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import changes_between, read_back

SERVER_SETTINGS = (*THREADPOOL_SETTINGS, *CLIENT_LIMIT_SETTINGS)
LOGGING_PARTS = ("outputs", "filters")


class Part:
    """One kind of setting of one server (server None: the daemon's logging)."""

    def __init__(self, kind: str, server: str | None, desired: dict) -> None:
        self.kind = kind  # "threadpool", "clients" or "logging"
        self.server = server
        self.desired = desired  # settings as the user gave them (logging: parsed)
        self.before: dict = {}
        self.changes: dict = {}
        self.after: dict = {}

    @property
    def label(self) -> str:
        what = {"threadpool": "thread pool", "clients": "client limits", "logging": "logging"}[self.kind]
        return what if self.server is None else f"{what} of server '{self.server}'"

    def read(self, conn) -> dict:
        if self.kind == "threadpool":
            return read_threadpool(conn, self.server)
        if self.kind == "clients":
            return read_client_limits(conn, self.server)
        return _logging.read(conn)

    def plan(self, conn) -> None:
        """Read the current state, validate desired over it, and find what differs."""
        self.before = self.read(conn)
        if self.kind == "threadpool":
            _threadpool.validate(self.before, self.desired)
            self.changes = changes_between(self.before, self.desired)
        elif self.kind == "clients":
            _clients.validate_limits(self.before, self.desired)
            self.changes = changes_between(self.before, self.desired)
        else:
            self.changes = _logging.changes(self.before, self.desired)

    def predict(self) -> dict:
        """The state after the changes, without making them (check mode)."""
        if self.kind == "threadpool":
            return _threadpool.predict(self.before, self.changes)
        return {**self.before, **self.changes}

    def apply(self, conn) -> dict:
        """Make the changes (each kind puts back its own half-made change) and read back."""
        if self.kind == "threadpool":
            return _threadpool.apply(conn, self.server, self.before, self.changes)
        if self.kind == "clients":
            _clients.apply_limits(conn, self.server, self.changes)
            return read_back(read_client_limits, conn, self.server)
        return _logging.apply(conn, self.before, self.changes)

    def undo(self, conn) -> None:
        """Set the changed settings back to their values before apply."""
        previous = {key: self.before[key] for key in self.changes}
        if self.kind == "threadpool":
            _threadpool.apply(conn, self.server, self.after, previous)
        elif self.kind == "clients":
            _clients.apply_limits(conn, self.server, previous)
        else:
            _logging.apply(conn, self.after, previous)

    def shown(self, state: dict) -> dict:
        """The managed settings of a state, as the diff shows them."""
        if self.kind == "logging":
            return {key: value for key, value in _logging.rendered(state).items() if key in self.desired}
        return {key: state[key] for key in self.desired}

    def persisted(self) -> tuple:
        """(server, kind, settings) for _persist.plan."""
        if self.kind == "logging":
            return None, "logging", _logging.rendered_parts(self.desired)
        return self.server, self.kind, self.desired


def _whole_number(where: str, value):
    if isinstance(value, bool):
        raise LibvirtAdminError(f"{where} must be a whole number, got {value!r}", ERR_INVALID_ARG)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise LibvirtAdminError(f"{where} must be a whole number, got {value!r}", ERR_INVALID_ARG)


def server_parts(servers: dict | None) -> list:
    """The threadpool and clients parts of the servers option ({name: {setting: value}}), or
    LibvirtAdminError naming the bad entry. Values may be numbers or strings of digits (templated)."""
    parts = []
    for name, settings in (servers or {}).items():
        if not isinstance(name, str) or not name:
            raise LibvirtAdminError(f"servers: a server name must be a non-empty string, got {name!r}", ERR_INVALID_ARG)
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise LibvirtAdminError(
                f"servers.{name} must be a dictionary of settings ({', '.join(SERVER_SETTINGS)}), got {settings!r}",
                ERR_INVALID_ARG,
            )
        unknown = sorted(str(key) for key in settings if key not in SERVER_SETTINGS)
        if unknown:
            raise LibvirtAdminError(
                f"servers.{name}: unknown setting {', '.join(unknown)}; a server takes {', '.join(SERVER_SETTINGS)}",
                ERR_INVALID_ARG,
            )
        given = {key: value for key, value in settings.items() if value is not None}
        if not given:
            raise LibvirtAdminError(
                f"servers.{name} sets nothing; give at least one of {', '.join(SERVER_SETTINGS)}, "
                "or leave the server out",
                ERR_INVALID_ARG,
            )
        values = {key: _whole_number(f"servers.{name}.{key}", value) for key, value in given.items()}
        for kind, names in (("threadpool", THREADPOOL_SETTINGS), ("clients", CLIENT_LIMIT_SETTINGS)):
            desired = {key: value for key, value in values.items() if key in names}
            if desired:
                parts.append(Part(kind, name, desired))
    return parts


def logging_part(logging: dict | None) -> Part | None:
    """The logging part of the logging option ({outputs, filters}; None entries left as they are)."""
    desired = _logging.desired((logging or {}).get("outputs"), (logging or {}).get("filters"))
    return Part("logging", None, desired) if desired else None


def check_servers(conn, parts: list) -> None:
    """Every server named in parts exists, or LibvirtAdminError listing the daemon's servers."""
    for part in parts:
        if part.server is not None:
            resolve_server(conn, part.server)


def apply_all(conn, parts: list) -> None:
    """Apply every part that has changes, in order. If one fails, the parts
    applied before it are set back and the error says what happened."""
    done = []
    for part in parts:
        if not part.changes:
            continue
        try:
            part.after = part.apply(conn)
        except LibvirtAdminError as error:
            raise _undo(conn, done, part, error) from error
        done.append(part)


def _undo(conn, done: list, failed: Part, error: LibvirtAdminError) -> LibvirtAdminError:
    message = f"changing the {failed.label} failed: {error.message}"
    if not done:
        return LibvirtAdminError(message, error.code)
    labels = ", ".join(part.label for part in done)
    try:
        for part in reversed(done):
            part.undo(conn)
    except LibvirtAdminError as undo_error:
        return LibvirtAdminError(
            f"{message}; the {labels} had been changed already, and putting them back failed too: "
            f"{undo_error.message}; check the daemon with libvirt_admin_server_info",
            error.code,
        )
    return LibvirtAdminError(f"{message}; the {labels} had been changed already and were put back", error.code)
