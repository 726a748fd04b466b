# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""ctypes binding to libvirt's admin API (libvirt-admin.so.0).

Nothing here knows about Ansible. Nothing is loaded at import time: the C
libraries are opened by the first AdminConnection. Every libvirt failure is
raised as LibvirtAdminError carrying libvirt's error code and message.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager

ADMIN_LIBRARY = "libvirt-admin.so.0"
CORE_LIBRARY = "libvirt.so.0"
PACKAGE_HINT = "libvirt0 on Debian/Ubuntu, libvirt-libs on Fedora/RHEL/CentOS"

# virTypedParameterType
TYPED_PARAM_INT = 1
TYPED_PARAM_UINT = 2
TYPED_PARAM_LLONG = 3
TYPED_PARAM_ULLONG = 4
TYPED_PARAM_DOUBLE = 5
TYPED_PARAM_BOOLEAN = 6
TYPED_PARAM_STRING = 7

# virErrorNumber values the callers look at.
ERR_NO_CONNECT = 5
ERR_INVALID_ARG = 8
ERR_SYSTEM_ERROR = 38
ERR_RPC = 39
ERR_AUTH_FAILED = 45
ERR_OPERATION_INVALID = 55
ERR_ACCESS_DENIED = 88
ERR_NO_SERVER = 95
ERR_NO_CLIENT = 96

UINT_MAX = 2**32 - 1
ADMIN_SERVER = "admin"


class LibvirtAdminError(Exception):
    """A failure of the admin API: libvirt's error code (None when the failure
    happened before libvirt could be asked, e.g. the library is missing) and
    libvirt's own message."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


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
    "virAdmServerLookupClient": ("admin", "2.0.0", _P, [_P, ctypes.c_ulonglong, _UINT]),
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
            raise LibvirtAdminError(
                f"cannot load libvirt's admin library {ADMIN_LIBRARY} ({exc}); "
                f"install the package that provides it ({PACKAGE_HINT})"
            ) from exc
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
            code = err.contents.code
        else:
            message, code = f"libvirt failed to {what} and gave no reason", None
        self.virResetLastError()
        return LibvirtAdminError(message, code)


_LOCK = threading.Lock()
_LIBRARY: _Library | None = None


def library() -> _Library:
    """Load libvirt-admin.so.0 on first use; later calls reuse it."""
    global _LIBRARY
    with _LOCK:
        if _LIBRARY is None:
            _LIBRARY = _Library()
        return _LIBRARY


def version_number(text: str) -> int:
    """X.Y.Z as libvirt packs versions (major * 1e6 + minor * 1e3 + micro)."""
    major, minor, micro = (int(part) for part in text.split("."))
    return major * 1000000 + minor * 1000 + micro


def version_string(number: int) -> str:
    """libvirt's packed version (major * 1e6 + minor * 1e3 + micro) as X.Y.Z."""
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


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
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT_MAX:
            raise LibvirtAdminError(f"{name} must be an integer from 0 to {UINT_MAX}, got {value!r}", ERR_INVALID_ARG)
        param.field = name.encode("ascii")
        param.type = TYPED_PARAM_UINT
        param.value.ui = value
    return array


class AdminConnection:
    """One connection to a daemon's admin socket (the per-client calls are in
    _clientcalls.ClientConnection, which adds them to this).

    uri=None lets libvirt choose (LIBVIRT_ADMIN_DEFAULT_URI, then uri_default in
    libvirt-admin.conf, then libvirtd:///system or the session daemon).
    Use it as a context manager or call close(); servers looked up inside a
    call are freed before the call returns.
    """

    def __init__(self, uri: str | None = None) -> None:
        self._lib = library()
        self._uri = uri
        self._conn = self._lib.virAdmConnectOpen(uri.encode("utf-8") if uri is not None else None, 0)
        if not self._conn:
            raise self._lib.last_error("open the admin connection")

    def __enter__(self) -> AdminConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._conn:
            conn, self._conn = self._conn, None
            self._lib.virAdmConnectClose(conn)

    def _check(self, result: int, what: str) -> int:
        if result < 0:
            raise self._lib.last_error(what)
        return result

    @property
    def _handle(self):
        if not self._conn:
            raise LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG)
        return self._conn

    def uri(self) -> str:
        text = self._lib.virAdmConnectGetURI(self._handle)
        if not text:
            raise self._lib.last_error("get the connection URI")
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            self._lib.free(text)

    def daemon_version(self) -> int:
        """The daemon's libvirt version, packed as major * 1e6 + minor * 1e3 + micro."""
        number = ctypes.c_ulonglong()
        self._check(
            self._lib.virAdmConnectGetLibVersion(self._handle, ctypes.byref(number)), "get the daemon's version"
        )
        return number.value

    def library_version(self) -> int:
        """The version of the libvirt-admin library loaded here."""
        number = ctypes.c_ulonglong()
        self._check(self._lib.virAdmGetVersion(ctypes.byref(number)), "get the library version")
        return number.value

    def list_servers(self) -> list:
        """Names of the daemon's servers, in the daemon's order."""
        servers = _PP()
        count = self._check(
            self._lib.virAdmConnectListServers(self._handle, ctypes.byref(servers), 0), "list the daemon's servers"
        )
        try:
            return [self._lib.virAdmServerGetName(servers[i]).decode("utf-8", "replace") for i in range(count)]
        finally:
            for i in range(count):
                self._lib.virAdmServerFree(servers[i])
            self._lib.free(servers)

    @contextmanager
    def _server(self, name: str):
        server = self._lib.virAdmConnectLookupServer(self._handle, name.encode("utf-8"), 0)
        if not server:
            raise self._lib.last_error(f"look up server {name}")
        try:
            yield server
        finally:
            self._lib.virAdmServerFree(server)

    def _read_params(self, getter, handle, what: str) -> dict:
        params = ctypes.POINTER(_TypedParam)()
        count = ctypes.c_int()
        self._check(getter(handle, ctypes.byref(params), ctypes.byref(count), 0), what)
        try:
            return _params_to_dict(params, count.value)
        finally:
            self._lib.virTypedParamsFree(params, count.value)

    def _get_params(self, getter, server: str, what: str) -> dict:
        with self._server(server) as srv:
            return self._read_params(getter, srv, what)

    def _set_params(self, setter, server: str, values: dict, what: str) -> None:
        array = _uint_params(values)
        with self._server(server) as srv:
            self._check(setter(srv, array, len(values), 0), what)

    def get_threadpool(self, server: str) -> dict:
        """Typed parameters of a server's worker pool, by libvirt's field names."""
        return self._get_params(self._lib.virAdmServerGetThreadPoolParameters, server, "get thread pool parameters")

    def set_threadpool(self, server: str, values: dict) -> None:
        """Set some of minWorkers / maxWorkers / prioWorkers in one call."""
        self._set_params(self._lib.virAdmServerSetThreadPoolParameters, server, values, "set thread pool parameters")

    def get_client_limits(self, server: str) -> dict:
        """nclients_max, nclients, nclients_unauth_max, nclients_unauth."""
        return self._get_params(self._lib.virAdmServerGetClientLimits, server, "get client limits")

    def set_client_limits(self, server: str, values: dict) -> None:
        """Set nclients_max and/or nclients_unauth_max in one call."""
        self._set_params(self._lib.virAdmServerSetClientLimits, server, values, "set client limits")

    def update_tls_files(self, server: str) -> None:
        """Make the server re-read its TLS certificate, key, CA certificate and CRL
        from their default locations (the daemon needs libvirt 6.2.0 or newer)."""
        with self._server(server) as srv:
            self._check(self._lib.virAdmServerUpdateTlsFiles(srv, 0), "reload the TLS files")

    def _get_string(self, getter, what: str) -> str:
        text = ctypes.c_void_p()
        self._check(getter(self._handle, ctypes.byref(text), 0), what)
        address = text.value
        if not address:
            return ""
        try:
            return ctypes.string_at(address).decode("utf-8", "replace")
        finally:
            self._lib.free(address)

    def get_logging_outputs(self) -> str:
        """The daemon's log outputs, as libvirt's space-separated string."""
        return self._get_string(self._lib.virAdmConnectGetLoggingOutputs, "get the logging outputs")

    def get_logging_filters(self) -> str:
        """The daemon's log filters, as libvirt's space-separated string."""
        return self._get_string(self._lib.virAdmConnectGetLoggingFilters, "get the logging filters")

    def set_logging_outputs(self, outputs: str) -> None:
        """Replace the daemon's log outputs ("" makes the daemon use its default)."""
        self._check(
            self._lib.virAdmConnectSetLoggingOutputs(self._handle, outputs.encode("utf-8"), 0),
            "set the logging outputs",
        )

    def set_logging_filters(self, filters: str) -> None:
        """Replace the daemon's log filters ("" removes every filter)."""
        self._check(
            self._lib.virAdmConnectSetLoggingFilters(self._handle, filters.encode("utf-8"), 0),
            "set the logging filters",
        )
