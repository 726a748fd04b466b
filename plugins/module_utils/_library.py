# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""The library backend: libvirt's admin API through its C library libvirt-admin.so.0, with ctypes.

Nothing here knows about Ansible. Nothing is loaded at import time: the C libraries are opened by
the first LibraryConnection (load_error() says whether they can be). Every libvirt failure is raised
as _admin.LibvirtAdminError carrying libvirt's error code, domain and message.

libvirt's client library waits for an answer for as long as it takes. Each call here is watched
instead: one that has no answer within the connection's timeout has the connection's socket shut
down under it (libvirt's client then returns from its wait with an error), and raises
_admin.unanswered() naming what did not answer.
"""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import threading
import time
from contextlib import contextmanager

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    DEFAULT_TIMEOUT,
    ERR_INVALID_ARG,
    AdminClient,
    AdminConnection,
    LibvirtAdminError,
    check_uint,
    unanswered,
    utf8,
)

ADMIN_LIBRARY = "libvirt-admin.so.0"
CORE_LIBRARY = "libvirt.so.0"
PACKAGE_HINT = "libvirt0 on Debian/Ubuntu, libvirt-libs on Fedora/RHEL/CentOS"
INSTALL_HINT = f"install the package that provides it ({PACKAGE_HINT})"

# virTypedParameterType
TYPED_PARAM_INT = 1
TYPED_PARAM_UINT = 2
TYPED_PARAM_LLONG = 3
TYPED_PARAM_ULLONG = 4
TYPED_PARAM_DOUBLE = 5
TYPED_PARAM_BOOLEAN = 6
TYPED_PARAM_STRING = 7
# virAdmConnectDaemonShutdownFlags
DAEMON_SHUTDOWN_PRESERVE = 1
# How libvirt's client reports a connection the daemon closed (virNetSocketReadWire; ECONNRESET).
CONNECTION_CLOSED = ("End of file while reading data", "Cannot recv data: Connection reset by peer")


class _TypedParamValue(ctypes.Union):
    _fields_ = [
        ("i", ctypes.c_int),
        ("ui", ctypes.c_uint),
        ("l", ctypes.c_longlong),
        ("ul", ctypes.c_ulonglong),
        ("d", ctypes.c_double),
        ("b", ctypes.c_char),
        ("s", ctypes.c_void_p),
    ]


class _TypedParam(ctypes.Structure):
    _fields_ = [
        ("field", ctypes.c_char * 80),
        ("type", ctypes.c_int),
        ("value", _TypedParamValue),
    ]


class _Error(ctypes.Structure):
    # Only the leading fields of virError are needed.
    _fields_ = [
        ("code", ctypes.c_int),
        ("domain", ctypes.c_int),
        ("message", ctypes.c_char_p),
    ]


_ERROR_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


@_ERROR_FUNC
def _ignore_error(_userdata, _error):
    """libvirt prints every error to stderr unless a handler is set."""


_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_PARAMS_OUT = ctypes.POINTER(ctypes.POINTER(_TypedParam))
_INT_P = ctypes.POINTER(ctypes.c_int)
_ULL_P = ctypes.POINTER(ctypes.c_ulonglong)
_UINT = ctypes.c_uint
_INT = ctypes.c_int

# name: (library, libvirt version that brought it, restype, argtypes)
_PROTOTYPES = {
    "virAdmInitialize": ("admin", "2.0.0", _INT, []),
    "virAdmGetVersion": ("admin", "2.0.0", _INT, [_ULL_P]),
    "virAdmConnectOpen": ("admin", "2.0.0", _P, [ctypes.c_char_p, _UINT]),
    "virAdmConnectClose": ("admin", "2.0.0", _INT, [_P]),
    "virAdmConnectGetURI": ("admin", "2.0.0", _P, [_P]),
    "virAdmConnectGetLibVersion": ("admin", "2.0.0", _INT, [_P, _ULL_P]),
    "virAdmConnectListServers": ("admin", "2.0.0", _INT, [_P, ctypes.POINTER(_PP), _UINT]),
    "virAdmConnectLookupServer": ("admin", "2.0.0", _P, [_P, ctypes.c_char_p, _UINT]),
    "virAdmServerGetName": ("admin", "2.0.0", ctypes.c_char_p, [_P]),
    "virAdmServerFree": ("admin", "2.0.0", _INT, [_P]),
    "virAdmServerGetThreadPoolParameters": ("admin", "2.0.0", _INT, [_P, _PARAMS_OUT, _INT_P, _UINT]),
    "virAdmServerSetThreadPoolParameters": ("admin", "2.0.0", _INT, [_P, ctypes.POINTER(_TypedParam), _INT, _UINT]),
    "virAdmServerGetClientLimits": ("admin", "2.0.0", _INT, [_P, _PARAMS_OUT, _INT_P, _UINT]),
    "virAdmServerSetClientLimits": ("admin", "2.0.0", _INT, [_P, ctypes.POINTER(_TypedParam), _INT, _UINT]),
    "virAdmServerListClients": ("admin", "2.0.0", _INT, [_P, ctypes.POINTER(_PP), _UINT]),
    "virAdmClientGetID": ("admin", "2.0.0", ctypes.c_ulonglong, [_P]),
    "virAdmClientGetTimestamp": ("admin", "2.0.0", ctypes.c_longlong, [_P]),
    "virAdmClientGetTransport": ("admin", "2.0.0", _INT, [_P]),
    "virAdmClientGetInfo": ("admin", "2.0.0", _INT, [_P, _PARAMS_OUT, _INT_P, _UINT]),
    "virAdmClientClose": ("admin", "2.0.0", _INT, [_P, _UINT]),
    "virAdmClientFree": ("admin", "2.0.0", _INT, [_P]),
    # Brought by libvirt 6.2.0, but its symbol sits in the LIBVIRT_ADMIN_2.0.0 block of
    # libvirt-admin.so: callers check the daemon's version, not the symbol.
    "virAdmServerUpdateTlsFiles": ("admin", "2.0.0", _INT, [_P, _UINT]),
    "virAdmConnectGetLoggingOutputs": ("admin", "3.0.0", _INT, [_P, ctypes.POINTER(ctypes.c_void_p), _UINT]),
    "virAdmConnectGetLoggingFilters": ("admin", "3.0.0", _INT, [_P, ctypes.POINTER(ctypes.c_void_p), _UINT]),
    "virAdmConnectSetLoggingOutputs": ("admin", "3.0.0", _INT, [_P, ctypes.c_char_p, _UINT]),
    "virAdmConnectSetLoggingFilters": ("admin", "3.0.0", _INT, [_P, ctypes.c_char_p, _UINT]),
    "virAdmConnectSetDaemonTimeout": ("admin", "8.6.0", _INT, [_P, _UINT, _UINT]),
    "virAdmConnectDaemonShutdown": ("admin", "11.2.0", _INT, [_P, _UINT]),
    "virGetLastError": ("core", "0.1.0", ctypes.POINTER(_Error), []),
    "virResetLastError": ("core", "0.1.0", None, []),
    "virSetErrorFunc": ("core", "0.1.0", None, [_P, _ERROR_FUNC]),
    "virTypedParamsFree": ("core", "0.1.0", None, [ctypes.POINTER(_TypedParam), _INT]),
    "free": ("libc", "0.1.0", None, [_P]),
}


def _missing(name: str, since: str):
    """Stands in for a function this host's libvirt lacks: fails when called, naming the version."""

    def call(*args):
        raise LibvirtAdminError(
            f"this needs libvirt {since} or newer: the libvirt library on this host has no {name}() "
            f"(upgrade {PACKAGE_HINT})"
        )

    return call


class _Library:
    """The loaded C functions, as attributes named like the C symbols."""

    def __init__(self) -> None:
        try:
            libs = {
                "admin": ctypes.CDLL(ADMIN_LIBRARY),
                "core": ctypes.CDLL(CORE_LIBRARY),
                # free() from the C library the process runs with (no ctypes.util: it costs ~20 ms to import)
                "libc": ctypes.CDLL(None),
            }
        except OSError as exc:
            raise LibvirtAdminError(f"cannot load libvirt's admin library {ADMIN_LIBRARY} ({exc})") from exc
        for name, (lib, since, restype, argtypes) in _PROTOTYPES.items():
            try:
                func = getattr(libs[lib], name)
            except AttributeError:
                func = _missing(name, since)
            else:
                func.restype = restype
                func.argtypes = argtypes
            setattr(self, name, func)
        self.virSetErrorFunc(None, _ignore_error)
        if self.virAdmInitialize() < 0:
            raise self.last_error("initialise the admin library")

    def last_error(self, what: str) -> LibvirtAdminError:
        """The thread's last libvirt error as an exception, then cleared."""
        err = self.virGetLastError()
        if err:
            message = (err.contents.message or b"").decode("utf-8", "replace")
            code, domain = err.contents.code, err.contents.domain
        else:
            message, code, domain = f"libvirt failed to {what} and gave no reason", None, None
        self.virResetLastError()
        return LibvirtAdminError(message, code, domain)


_LOCK = threading.Lock()
_LIBRARY: _Library | None = None
_LOAD_ERROR: LibvirtAdminError | None = None


def library() -> _Library:
    """Load libvirt-admin.so.0 on first use; later calls reuse it (or raise its load error again)."""
    global _LIBRARY, _LOAD_ERROR
    with _LOCK:
        if _LIBRARY is None and _LOAD_ERROR is None:
            try:
                _LIBRARY = _Library()
            except LibvirtAdminError as error:
                _LOAD_ERROR = error
        if _LOAD_ERROR is not None:
            raise LibvirtAdminError(f"{_LOAD_ERROR.message}; {INSTALL_HINT}", _LOAD_ERROR.code)
        return _LIBRARY


def load_error() -> LibvirtAdminError | None:
    """Why libvirt-admin.so.0 cannot be used on this host, or None when it loads."""
    try:
        library()
    except LibvirtAdminError as error:
        return error
    return None


def _params_to_dict(params, count: int) -> dict:
    values = {}
    for i in range(count):
        param = params[i]
        name = param.field.decode("utf-8", "replace")
        kind = param.type
        if kind == TYPED_PARAM_INT:
            values[name] = param.value.i
        elif kind == TYPED_PARAM_UINT:
            values[name] = param.value.ui
        elif kind == TYPED_PARAM_LLONG:
            values[name] = param.value.l
        elif kind == TYPED_PARAM_ULLONG:
            values[name] = param.value.ul
        elif kind == TYPED_PARAM_DOUBLE:
            values[name] = param.value.d
        elif kind == TYPED_PARAM_BOOLEAN:
            values[name] = param.value.b != b"\x00"
        elif kind == TYPED_PARAM_STRING:
            values[name] = ctypes.string_at(param.value.s).decode("utf-8", "replace") if param.value.s else None
    return values


def _uint_params(values: dict):
    """A typed-parameter array of UINTs, owned by Python (not to be freed by libvirt)."""
    array = (_TypedParam * len(values))()
    for param, (name, value) in zip(array, values.items()):
        param.field = name.encode("ascii")
        param.type = TYPED_PARAM_UINT
        param.value.ui = check_uint(name, value)
    return array


# --- calls that get no answer ---------------------------------------------------------------------

WATCH_INTERVAL = 0.1


def _fds() -> set:
    """The process's open file descriptors (not counting the one this reads them with)."""
    try:
        listing = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return set()
    try:
        return {int(name) for name in os.listdir(listing)} - {listing}
    finally:
        os.close(listing)


def _stream_sockets(fds) -> list:
    """Those of fds that are stream sockets: a connection's socket (its wake-up pipe is no socket)."""
    found = []
    for fd in sorted(fds):
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with probe:
            if probe.type == socket.SOCK_STREAM:
                found.append(fd)
    return found


def _peer(fd: int) -> str | None:
    try:
        with socket.socket(fileno=os.dup(fd)) as probe:
            name = probe.getpeername()
    except OSError:
        return None
    return name if isinstance(name, str) and name else None


def _socket_path(uri: str | None, sockets) -> str:
    """The admin socket a connection reaches, for messages: the URI's socket= path, else the path the
    daemon bound (as the daemon sees it), else the URI."""
    given = (uri or "").partition("socket=")[2].split("&")[0]
    return given or next(filter(None, map(_peer, sockets)), None) or uri or "libvirt's default admin URI"


def _shut_down(fds) -> None:
    """Shut the sockets down (not close: libvirt still owns the descriptors and closes them itself)."""
    for fd in fds:
        try:
            with socket.socket(fileno=os.dup(fd)) as probe:
                probe.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Call:
    __slots__ = ("deadline", "expired", "sockets")

    def __init__(self, deadline: float, sockets) -> None:
        self.deadline = deadline
        self.sockets = sockets  # the fds to shut down, or a callable that finds them
        self.expired = False


class _Watchdog:
    """One thread per process that shuts down the sockets of calls past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: set = set()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self, timeout: float, sockets) -> _Call:
        call = _Call(time.monotonic() + timeout, sockets)
        with self._lock:
            self._calls.add(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="libvirt-admin-watchdog", daemon=True)
                self._thread.start()
        self._busy.set()
        return call

    def disarm(self, call: _Call) -> bool:
        """Whether the call had expired (its socket was shut down)."""
        with self._lock:
            self._calls.discard(call)
            return call.expired

    def _watch(self) -> None:
        while True:
            self._busy.wait()
            time.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            with self._lock:
                late = [call for call in self._calls if not call.expired and call.deadline <= now]
                for call in late:
                    call.expired = True
                if not self._calls:
                    self._busy.clear()
            for call in late:
                _shut_down(call.sockets() if callable(call.sockets) else call.sockets)


_WATCHDOG = _Watchdog()
# Opening is serialised, so that the sockets that appear during an open are that connection's.
_OPEN_LOCK = threading.Lock()


class LibraryConnection(AdminConnection):
    """One connection through libvirt-admin.so.0 (see _admin.AdminConnection for the interface)."""

    backend = "library"

    def __init__(self, uri: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(uri, timeout)
        self._lib = library()
        self._conn = None
        self._servers: dict = {}  # name -> virAdmServerPtr, freed by close()
        self._servers_lock = threading.Lock()
        with _OPEN_LOCK:
            before = _fds()
            call = _WATCHDOG.arm(timeout, lambda: _stream_sockets(_fds() - before))
            try:
                self._conn = self._lib.virAdmConnectOpen(utf8(uri, "the URI") if uri is not None else None, 0)
            finally:
                expired = _WATCHDOG.disarm(call)
            self._sockets = _stream_sockets(_fds() - before)
        self.socket_path = _socket_path(uri, self._sockets)
        if expired:
            self.close()
            raise unanswered("open the admin connection", self.socket_path, timeout)
        if not self._conn:
            raise self._lib.last_error("open the admin connection")

    def close(self) -> None:
        with self._servers_lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            self._lib.virAdmServerFree(server)
        if self._conn:
            conn, self._conn = self._conn, None
            self._lib.virAdmConnectClose(conn)

    @property
    def _handle(self):
        if not self._conn:
            raise LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG)
        return self._conn

    def _call(self, what: str, func, *args):
        """func(*args), a call that goes to the daemon, given up after the timeout."""
        call = _WATCHDOG.arm(self.timeout, self._sockets)
        try:
            result = func(*args)
        finally:
            expired = _WATCHDOG.disarm(call)
        if expired:
            raise unanswered(what, self.socket_path, self.timeout)
        return result

    def _check(self, what: str, func, *args) -> int:
        result = self._call(what, func, *args)
        if result < 0:
            raise self._lib.last_error(what)
        return result

    def uri(self) -> str:
        text = self._lib.virAdmConnectGetURI(self._handle)
        if not text:
            raise self._lib.last_error("get the connection URI")
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            self._lib.free(text)

    def daemon_version(self) -> int:
        number = ctypes.c_ulonglong()
        self._check(
            "get the daemon's version", self._lib.virAdmConnectGetLibVersion, self._handle, ctypes.byref(number)
        )
        return number.value

    def library_version(self) -> int:
        """The version of the libvirt-admin library loaded here."""
        number = ctypes.c_ulonglong()
        if self._lib.virAdmGetVersion(ctypes.byref(number)) < 0:
            raise self._lib.last_error("get the library version")
        return number.value

    def list_servers(self) -> list:
        servers = _PP()
        count = self._check(
            "list the daemon's servers", self._lib.virAdmConnectListServers, self._handle, ctypes.byref(servers), 0
        )
        try:
            return [self._lib.virAdmServerGetName(servers[i]).decode("utf-8", "replace") for i in range(count)]
        finally:
            for i in range(count):
                self._lib.virAdmServerFree(servers[i])
            self._lib.free(servers)

    def _server(self, name: str):
        """The server's handle, looked up on its first use and kept until the connection closes (a daemon's
        servers are made at its start and never change while it runs)."""
        server = self._servers.get(name)
        if server is not None:
            return server
        what = f"look up server {name}"
        server = self._call(what, self._lib.virAdmConnectLookupServer, self._handle, utf8(name, "the server name"), 0)
        if not server:
            raise self._lib.last_error(what)
        with self._servers_lock:
            kept = self._servers.setdefault(name, server)
        if kept != server:  # another thread looked it up meanwhile
            self._lib.virAdmServerFree(server)
        return kept

    def _read_params(self, what: str, getter, handle) -> dict:
        params = ctypes.POINTER(_TypedParam)()
        count = ctypes.c_int()
        self._check(what, getter, handle, ctypes.byref(params), ctypes.byref(count), 0)
        try:
            return _params_to_dict(params, count.value)
        finally:
            self._lib.virTypedParamsFree(params, count.value)

    def _get_params(self, what: str, getter, server: str) -> dict:
        srv = self._server(server)
        return self._read_params(what, getter, srv)

    def _set_params(self, what: str, setter, server: str, values: dict) -> None:
        array = _uint_params(values)
        srv = self._server(server)
        self._check(what, setter, srv, array, len(values), 0)

    def get_threadpool(self, server: str) -> dict:
        return self._get_params("get thread pool parameters", self._lib.virAdmServerGetThreadPoolParameters, server)

    def set_threadpool(self, server: str, values: dict) -> None:
        self._set_params("set thread pool parameters", self._lib.virAdmServerSetThreadPoolParameters, server, values)

    def get_client_limits(self, server: str) -> dict:
        return self._get_params("get client limits", self._lib.virAdmServerGetClientLimits, server)

    def set_client_limits(self, server: str, values: dict) -> None:
        self._set_params("set client limits", self._lib.virAdmServerSetClientLimits, server, values)

    def update_tls_files(self, server: str) -> None:
        srv = self._server(server)
        self._check("reload the TLS files", self._lib.virAdmServerUpdateTlsFiles, srv, 0)

    @contextmanager
    def clients(self, server: str):
        array = _PP()
        srv = self._server(server)
        count = self._check("list the server's clients", self._lib.virAdmServerListClients, srv, ctypes.byref(array), 0)
        lib = self._lib
        try:
            yield [
                AdminClient(
                    server,
                    lib.virAdmClientGetID(array[i]),
                    lib.virAdmClientGetTimestamp(array[i]),
                    lib.virAdmClientGetTransport(array[i]),
                    array[i],
                )
                for i in range(count)
            ]
        finally:
            for i in range(count):
                lib.virAdmClientFree(array[i])
            lib.free(array)

    def client_info(self, client: AdminClient) -> dict:
        return self._read_params("get client info", self._lib.virAdmClientGetInfo, client.handle)

    def close_client(self, client: AdminClient) -> None:
        self._check(f"disconnect client {client.id}", self._lib.virAdmClientClose, client.handle, 0)

    def _get_string(self, what: str, getter) -> str:
        text = ctypes.c_void_p()
        self._check(what, getter, self._handle, ctypes.byref(text), 0)
        address = text.value
        if not address:
            return ""
        try:
            return ctypes.string_at(address).decode("utf-8", "replace")
        finally:
            self._lib.free(address)

    def get_logging_outputs(self) -> str:
        return self._get_string("get the logging outputs", self._lib.virAdmConnectGetLoggingOutputs)

    def get_logging_filters(self) -> str:
        return self._get_string("get the logging filters", self._lib.virAdmConnectGetLoggingFilters)

    def set_logging_outputs(self, outputs: str) -> None:
        self._check(
            "set the logging outputs",
            self._lib.virAdmConnectSetLoggingOutputs,
            self._handle,
            utf8(outputs, "the logging outputs"),
            0,
        )

    def set_logging_filters(self, filters: str) -> None:
        self._check(
            "set the logging filters",
            self._lib.virAdmConnectSetLoggingFilters,
            self._handle,
            utf8(filters, "the logging filters"),
            0,
        )

    def set_daemon_timeout(self, seconds: int) -> None:
        self._check(
            "set the daemon's timeout",
            self._lib.virAdmConnectSetDaemonTimeout,
            self._handle,
            check_uint("timeout", seconds),
            0,
        )

    def daemon_shutdown(self, preserve: bool = False) -> None:
        """libvirt 11.2 to 12.x close the connection before they answer [seen 11.3, 12.8]: the library then
        fails with "End of file while reading data", which here is the call succeeding."""
        flags = DAEMON_SHUTDOWN_PRESERVE if preserve else 0
        try:
            self._check("shut the daemon down", self._lib.virAdmConnectDaemonShutdown, self._handle, flags)
        except LibvirtAdminError as error:
            if not error.message.startswith(CONNECTION_CLOSED):
                raise
