# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""The admin API as the rest of the collection sees it: the seam between the
modules and the backends that reach a daemon.

- LibvirtAdminError, the one error class: libvirt's error code, domain and
  message, whichever backend raised it.
- AdminConnection, the interface every backend implements (and the unit
  tests' fake): one open connection to one daemon's admin socket.
- open_connection(), which picks a backend: the C library libvirt-admin.so.0
  through ctypes (_library), or libvirt's admin RPC protocol spoken directly
  in pure Python (_protocol).

Nothing here knows about Ansible, and importing this loads no backend.
"""

from __future__ import annotations

import re

# virErrorNumber values the collection looks at (include/libvirt/virterror.h).
ERR_INTERNAL_ERROR = 1
ERR_INVALID_ARG = 8
ERR_CONF_SYNTAX = 33
ERR_SYSTEM_ERROR = 38
ERR_RPC = 39
ERR_AUTH_FAILED = 45
ERR_OPERATION_TIMEOUT = 68
ERR_ACCESS_DENIED = 88
ERR_NO_SERVER = 95
ERR_NO_CLIENT = 96

# virErrorDomain values both backends raise errors of (include/libvirt/virterror.h).
FROM_NONE = 0
FROM_RPC = 7
FROM_CONF = 9
FROM_URI = 45
FROM_ADMIN = 62

UINT_MAX = 2**32 - 1
# Every daemon has this server besides its own: it serves the admin socket.
ADMIN_SERVER = "admin"
# virClientTransport
TRANSPORTS = {0: "unix", 1: "tcp", 2: "tls"}

# A libvirt daemon's name, as in its binary, its admin URI's scheme and its config file's name.
DAEMON_NAME = re.compile(r"[a-z][a-z0-9_-]*")

BACKENDS = ("auto", "library", "protocol")
# Seconds an admin call (or opening the connection) may take before it is given up.
DEFAULT_TIMEOUT = 30.0


class LibvirtAdminError(Exception):
    """A failure of the admin API, or of a check made before calling it.

    code and domain are libvirt's virErrorNumber and virErrorDomain, None when
    libvirt was not asked (the library is missing, a value was refused before
    it was sent); message is libvirt's own text, or ours saying what to do."""

    def __init__(self, message: str, code: int | None = None, domain: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.domain = domain


def unanswered(what: str, where: str, seconds: float) -> LibvirtAdminError:
    """The error of a call given up after its timeout: what ("list the servers") got no answer from where
    (the admin socket's path) within seconds."""
    return LibvirtAdminError(
        f"the daemon did not answer within {seconds:g} s (to {what}, on {where})", ERR_OPERATION_TIMEOUT
    )


def utf8(text: str, what: str) -> bytes:
    """text as libvirt takes it (UTF-8; bytes read with surrogateescape go back as they were), or
    LibvirtAdminError naming what cannot be sent."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LibvirtAdminError(
            f"{what} {text!r} cannot be sent to libvirt: it is not valid text (it holds a lone surrogate)",
            ERR_INVALID_ARG,
        ) from None


def check_uint(name: str, value) -> int:
    """value, when it is an unsigned 32-bit integer as libvirt takes it; else LibvirtAdminError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT_MAX:
        raise LibvirtAdminError(f"{name} must be a whole number from 0 to {UINT_MAX}, got {value!r}", ERR_INVALID_ARG)
    return value


def version_number(text: str) -> int:
    """X.Y.Z as libvirt packs versions (major * 1e6 + minor * 1e3 + micro)."""
    major, minor, micro = (int(part) for part in text.split("."))
    return major * 1000000 + minor * 1000 + micro


def version_string(number: int) -> str:
    """libvirt's packed version (major * 1e6 + minor * 1e3 + micro) as X.Y.Z."""
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


class AdminClient:
    """A client of one of the daemon's servers, as a listing returns it. handle is the
    backend's own (a virAdmClientPtr for the library), valid while the listing is."""

    __slots__ = ("handle", "id", "server", "timestamp", "transport")

    def __init__(self, server: str, client_id: int, timestamp: int, transport: int, handle=None) -> None:
        self.server = server
        self.id = client_id
        self.timestamp = timestamp  # seconds since the epoch; 0 when libvirt does not know
        self.transport = transport  # 0 unix, 1 tcp, 2 tls
        self.handle = handle


class AdminConnection:
    """One open connection to a daemon's admin socket: the interface every backend implements.

    uri None lets libvirt's rules choose the daemon (LIBVIRT_ADMIN_DEFAULT_URI, then uri_default in
    libvirt-admin.conf, then libvirtd:///system, or the session daemon for a user other than root).
    Every call may raise LibvirtAdminError, and one that gets no answer within timeout seconds
    raises it saying so. Use it as a context manager, or call close()."""

    backend = ""  # "library" or "protocol"

    def __init__(self, uri: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.requested_uri = uri
        self.timeout = timeout

    def __enter__(self) -> AdminConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def reopen(self) -> AdminConnection:
        """Another connection to the same daemon, by the same backend."""
        return type(self)(self.requested_uri, self.timeout)

    def close(self) -> None:
        raise NotImplementedError

    # The daemon.

    def uri(self) -> str:
        """The connection's URI, as libvirt formats it."""
        raise NotImplementedError

    def daemon_version(self) -> int:
        """The daemon's libvirt version, packed (see version_number)."""
        raise NotImplementedError

    def list_servers(self) -> list:
        """Names of the daemon's servers, in the daemon's order."""
        raise NotImplementedError

    # A server's worker pool and client limits: typed parameters by libvirt's field names.

    def get_threadpool(self, server: str) -> dict:
        """minWorkers, maxWorkers, nWorkers, freeWorkers, prioWorkers, jobQueueDepth."""
        raise NotImplementedError

    def set_threadpool(self, server: str, values: dict) -> None:
        """Some of minWorkers, maxWorkers, prioWorkers (unsigned ints), in one call."""
        raise NotImplementedError

    def get_client_limits(self, server: str) -> dict:
        """nclients_max, nclients, nclients_unauth_max, nclients_unauth."""
        raise NotImplementedError

    def set_client_limits(self, server: str, values: dict) -> None:
        """nclients_max and/or nclients_unauth_max (unsigned ints), in one call."""
        raise NotImplementedError

    def update_tls_files(self, server: str) -> None:
        """The server re-reads its TLS certificate, key, CA and CRL (libvirt 6.2.0)."""
        raise NotImplementedError

    # A server's clients.

    def clients(self, server: str):
        """A context manager: the server's clients, a list of AdminClient in the daemon's order, valid
        inside the block."""
        raise NotImplementedError

    def client_info(self, client: AdminClient) -> dict:
        """A listed client's typed parameters (readonly, sock_addr, unix_user_id, ...);
        LibvirtAdminError with ERR_NO_CLIENT when it has left."""
        raise NotImplementedError

    def close_client(self, client: AdminClient) -> None:
        """Disconnect a listed client; LibvirtAdminError with ERR_NO_CLIENT when it has left."""
        raise NotImplementedError

    # The daemon's logging (libvirt 3.0.0), as the daemon's space-separated strings.

    def get_logging_outputs(self) -> str:
        raise NotImplementedError

    def get_logging_filters(self) -> str:
        raise NotImplementedError

    def set_logging_outputs(self, outputs: str) -> None:
        """Replace the outputs ("" makes the daemon use its default)."""
        raise NotImplementedError

    def set_logging_filters(self, filters: str) -> None:
        """Replace the filters ("" removes every filter)."""
        raise NotImplementedError

    # The daemon's life.

    def set_daemon_timeout(self, seconds: int) -> None:
        """The daemon exits after this many idle seconds (0: never); libvirt 8.6.0."""
        raise NotImplementedError

    def daemon_shutdown(self, preserve: bool = False) -> None:
        """Ask the daemon to shut down (preserve: save its guests' state first); libvirt 11.2.0. A daemon
        that closes the connection instead of answering has taken the request: that is no error."""
        raise NotImplementedError


def open_connection(uri: str | None = None, backend: str = "auto", timeout: float = DEFAULT_TIMEOUT) -> AdminConnection:
    """An open connection by the backend asked for: "library" (libvirt-admin.so.0), "protocol"
    (the admin RPC protocol in pure Python) or "auto" (the library where it loads, else the
    protocol). Only the backend used is imported."""
    if backend not in BACKENDS:
        raise LibvirtAdminError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}", ERR_INVALID_ARG)
    if backend != "protocol":
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _library

        missing = _library.load_error()
        if missing is None:
            return _library.LibraryConnection(uri, timeout)
        if backend == "library":
            raise LibvirtAdminError(
                f"{missing.message}: use backend auto or protocol, which speak the admin protocol without the "
                f"library (as on hosts whose daemons run in containers), or {_library.INSTALL_HINT}",
                missing.code,
            )
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol

    return _protocol.ProtocolConnection(uri, timeout)
