# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""libvirt's admin RPC protocol spoken directly, in pure Python: the "protocol" backend of the seam
in _admin, for hosts that have a daemon's admin socket but not libvirt-admin.so.0.

- resolve_uri(): an admin URI (or none) to the URI libvirt reports and the socket it connects to,
  as libvirt-admin.so does it (LIBVIRT_ADMIN_DEFAULT_URI, uri_default and uri_aliases in
  libvirt-admin.conf, `<daemon>:///system`, `<daemon>:///session`, `?socket=`), with the library's
  error code, domain and words for every URI or file it refuses.
- ProtocolConnection: one connection to a daemon's admin socket (src/admin/admin_protocol.x,
  program 0x06900690 version 1), every seam call, safe to share between threads: calls from several
  threads are in flight together (serial numbers match the replies) and whichever waiting thread
  reads the socket hands each reply to its caller.

Every call honours the connection's timeout (_admin.unanswered when it passes), and nothing the
daemon sends is trusted: see _xdr. Standard library only; nothing here knows about Ansible.
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
import stat
import threading
import time
from contextlib import contextmanager, suppress

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _xdr
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    DEFAULT_TIMEOUT,
    ERR_INTERNAL_ERROR,
    ERR_INVALID_ARG,
    ERR_SYSTEM_ERROR,
    FROM_RPC,
    AdminClient,
    AdminConnection,
    LibvirtAdminError,
    check_uint,
    unanswered,
)

# src/admin/admin_protocol.x
ADMIN_PROGRAM = 0x06900690
ADMIN_PROTOCOL_VERSION = 1
PROC_CONNECT_OPEN = 1
PROC_CONNECT_CLOSE = 2
PROC_CONNECT_GET_LIB_VERSION = 3
PROC_CONNECT_LIST_SERVERS = 4
PROC_CONNECT_LOOKUP_SERVER = 5
PROC_SERVER_GET_THREADPOOL_PARAMETERS = 6
PROC_SERVER_SET_THREADPOOL_PARAMETERS = 7
PROC_SERVER_LIST_CLIENTS = 8
PROC_SERVER_LOOKUP_CLIENT = 9
PROC_CLIENT_GET_INFO = 10
PROC_CLIENT_CLOSE = 11
PROC_SERVER_GET_CLIENT_LIMITS = 12
PROC_SERVER_SET_CLIENT_LIMITS = 13
PROC_CONNECT_GET_LOGGING_OUTPUTS = 14
PROC_CONNECT_GET_LOGGING_FILTERS = 15
PROC_CONNECT_SET_LOGGING_OUTPUTS = 16
PROC_CONNECT_SET_LOGGING_FILTERS = 17
PROC_SERVER_UPDATE_TLS_FILES = 18  # libvirt 6.2.0
PROC_CONNECT_SET_DAEMON_TIMEOUT = 19  # libvirt 8.6.0
PROC_CONNECT_DAEMON_SHUTDOWN = 20  # libvirt 11.2.0
DAEMON_SHUTDOWN_PRESERVE = 1  # VIR_DAEMON_SHUTDOWN_PRESERVE
# The protocol's bounds on strings and lists.
ADMIN_STRING_MAX = 4194304
ADMIN_SERVER_LIST_MAX = 16384
ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX = 32
ADMIN_CLIENT_LIST_MAX = 16384
ADMIN_CLIENT_INFO_PARAMETERS_MAX = 64
ADMIN_SERVER_CLIENT_LIMITS_MAX = 32

# Where libvirt (as Debian, Fedora and upstream build it) keeps what it runs and reads.
RUNSTATEDIR = "/run"
SYSCONFDIR = "/etc"
ADMIN_CONF = "libvirt-admin.conf"
SUN_PATH_SIZE = 108  # sizeof(struct sockaddr_un.sun_path) on Linux
# The daemon closed the connection between two messages.
END_OF_FILE = "End of file while reading data: the daemon closed the connection"
CONNECTION_RESET = f"Cannot recv data: {os.strerror(errno.ECONNRESET)}"
_NO_SIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE rather than SIGPIPE, whatever the process does with it


def _error(message: str, code: int, domain: int) -> LibvirtAdminError:
    return LibvirtAdminError(message, code, domain)


def _system_error(text: str, number: int, domain: int = FROM_RPC) -> LibvirtAdminError:
    """virReportSystemError: the text, then the C library's words for errno."""
    return _error(f"{text}: {os.strerror(number)}", ERR_SYSTEM_ERROR, domain)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# ---------------------------------------------------------------- URIs

# A URI that resolves to itself and a socket path without libxml2's parser, when no libvirt-admin.conf
# could alias it: `<daemon>:///system`, with or without `?socket=` and a path of characters that need
# no escaping. _protocol_uri resolves everything else; tests/unit and test_protocol_uris compare both.
_PLAIN_URI = re.compile(r"(libvirtd|virt[a-z]+):///system(?:\?socket=([A-Za-z0-9/._~:@+,-]+))?")


def system_conf_path() -> str:
    """root's libvirt-admin.conf."""
    return f"{SYSCONFDIR}/libvirt/{ADMIN_CONF}"


def admin_socket_name(scheme: str) -> str:
    """The file name of a daemon's admin socket: `<daemon>-admin-sock`, libvirtd's `libvirt-admin-sock`."""
    return "libvirt-admin-sock" if scheme == "libvirtd" else f"{scheme}-admin-sock"


# The largest libvirt-admin.conf the plain-URI path reads to see that it holds only comments.
_PLAIN_CONF_MAX = 65536


def _no_conf() -> bool:
    """Whether root's libvirt-admin.conf sets nothing: it does not exist, or it is a small regular file of
    comments and blank lines only (as Debian's libvirt-clients ships it). Anything else is left to
    _protocol_uri, which reads it as libvirt does, errors included."""
    path = system_conf_path()
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISREG(status.st_mode) or status.st_size > _PLAIN_CONF_MAX:
        return False
    try:
        with open(path, "rb") as conf:
            text = conf.read(_PLAIN_CONF_MAX + 1)
    except OSError:
        return False
    if text and not text.strip(b" \t\r\n"):
        return False  # blanks only: libvirt's parser wants a name after them
    return all(not line or line.startswith(b"#") for line in (raw.lstrip(b" \t") for raw in re.split(b"[\r\n]", text)))


def resolve_uri(uri: str | None = None) -> tuple:
    """(the URI as virAdmConnectGetURI() reports it, the path of the socket to connect to), as
    virAdmConnectOpen() finds them; LibvirtAdminError with libvirt's code, domain and words when it
    refuses the URI or libvirt-admin.conf."""
    if os.geteuid() == 0 and _no_conf():
        name = uri if uri is not None else os.environ.get("LIBVIRT_ADMIN_DEFAULT_URI") or "libvirtd:///system"
        plain = _PLAIN_URI.fullmatch(name)
        if plain is not None:
            scheme, path = plain.groups()
            return name, (path or f"{RUNSTATEDIR}/libvirt/{admin_socket_name(scheme)}").encode()
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol_uri

    return _protocol_uri.resolve_uri(uri)


# ---------------------------------------------------------------- the connection


def _wait(sock: socket.socket, writing: bool, deadline: float) -> bool:
    """Wait until sock can be read (or written); False when the deadline passes first."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLOUT if writing else select.POLLIN)
            if poller.poll(max(remaining * 1000, 1)):
                return True
        else:  # pragma: no cover (not Linux)
            ready = select.select([], [sock], [], remaining) if writing else select.select([sock], [], [], remaining)
            if ready[0] or ready[1]:
                return True


def _connect(path: bytes, deadline: float, timeout: float) -> socket.socket:
    """virNetSocketNewConnectUNIX(): a connected stream socket, or libvirt's error. A leading "@" names an
    abstract socket; the address is the whole sun_path, as libvirt passes it."""
    shown = _text(path)
    if len(path) >= SUN_PATH_SIZE:
        raise _system_error(f"Path {shown} too long for unix socket", errno.ENOMEM)
    address = path
    if not path or path[:1] in (b"@", b"\0"):
        address = (b"\0" + path[1:]).ljust(SUN_PATH_SIZE, b"\0")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        while True:
            try:
                sock.connect(address)
                return sock
            except BlockingIOError as exc:
                # The daemon's listen queue is full (EAGAIN), or the connection is under way.
                if exc.errno == errno.EINPROGRESS and _wait(sock, True, deadline):
                    number = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if number == 0:
                        return sock
                    raise _system_error(f"Failed to connect socket to '{shown}'", number) from None
                if time.monotonic() >= deadline:
                    raise unanswered("connect to the admin socket", shown, timeout) from None
                time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))
            except InterruptedError:
                continue
            except OSError as exc:
                raise _system_error(f"Failed to connect socket to '{shown}'", exc.errno or errno.EIO) from None
    except BaseException:
        sock.close()
        raise


class _Call:
    """A call in flight: what it is, and its reply once read."""

    __slots__ = ("body", "done", "error", "proc", "serial", "what")

    def __init__(self, serial: int, proc: int, what: str) -> None:
        self.serial = serial
        self.proc = proc
        self.what = what
        self.done = False
        self.body = None
        self.error = None


# What each procedure does, for the errors (unanswered, malformed replies).
_WHAT = {
    PROC_CONNECT_OPEN: "open the admin connection",
    PROC_CONNECT_CLOSE: "close the admin connection",
    PROC_CONNECT_GET_LIB_VERSION: "get the daemon's version",
    PROC_CONNECT_LIST_SERVERS: "list the daemon's servers",
    PROC_CONNECT_LOOKUP_SERVER: "look up server {}",
    PROC_SERVER_GET_THREADPOOL_PARAMETERS: "get the thread pool parameters of server {}",
    PROC_SERVER_SET_THREADPOOL_PARAMETERS: "set the thread pool parameters of server {}",
    PROC_SERVER_LIST_CLIENTS: "list the clients of server {}",
    PROC_SERVER_LOOKUP_CLIENT: "look up a client of server {}",
    PROC_CLIENT_GET_INFO: "get the info of client {}",
    PROC_CLIENT_CLOSE: "disconnect client {}",
    PROC_SERVER_GET_CLIENT_LIMITS: "get the client limits of server {}",
    PROC_SERVER_SET_CLIENT_LIMITS: "set the client limits of server {}",
    PROC_CONNECT_GET_LOGGING_OUTPUTS: "get the logging outputs",
    PROC_CONNECT_GET_LOGGING_FILTERS: "get the logging filters",
    PROC_CONNECT_SET_LOGGING_OUTPUTS: "set the logging outputs",
    PROC_CONNECT_SET_LOGGING_FILTERS: "set the logging filters",
    PROC_SERVER_UPDATE_TLS_FILES: "reload the TLS files of server {}",
    PROC_CONNECT_SET_DAEMON_TIMEOUT: "set the daemon's timeout",
    PROC_CONNECT_DAEMON_SHUTDOWN: "shut the daemon down",
}


class ProtocolConnection(AdminConnection):
    """One connection to a daemon's admin socket, speaking the admin protocol itself.

    uri as libvirt takes it (None: libvirt's default, see resolve_uri). sock, an already connected
    stream socket, is used instead of resolving uri (uri is then only what uri() reports, verbatim); the
    connection owns it and closes it. Safe to use from several threads at once: their calls are in flight
    together on the one socket."""

    backend = "protocol"
    # Calls of several threads are in flight together, their replies matched by serial number; False makes
    # each call wait for the one before it to be answered (bench/protocol_pipelining.py compares the two).
    pipelining = True

    def __init__(self, uri: str | None = None, timeout: float = DEFAULT_TIMEOUT, sock: socket.socket | None = None):
        super().__init__(uri, timeout)
        self._given_socket = sock is not None
        if sock is None:
            self._uri, path = resolve_uri(uri)
            self.socket_path = _text(path)
            sock = _connect(path, time.monotonic() + timeout, timeout)
        else:
            self._uri = uri if uri is not None else ""
            self.socket_path = self._describe(sock, uri)
        sock.setblocking(False)
        self._sock = sock
        self._poller = None  # the reading thread's poll object (where select has poll)
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._serial = 0
        self._calls: dict = {}  # serial -> _Call, in flight
        self._abandoned: set = set()  # serials given up on: their replies are dropped
        self._reading = False  # a thread is reading the socket
        self._inbox = bytearray()  # what has been read of the next message
        self._failed: LibvirtAdminError | None = None  # the socket is unusable: why
        self._closed = False
        self._known_servers: set = set()  # servers looked up on this connection
        try:
            self._call(PROC_CONNECT_OPEN, _xdr.Encoder().uint(0).value())  # flags 0, as the library sends
        except BaseException:
            self._shut()
            raise

    @staticmethod
    def _describe(sock: socket.socket, uri: str | None) -> str:
        try:
            name = sock.getpeername()
        except OSError:
            name = None
        if isinstance(name, bytes):
            name = _text(name)
        if isinstance(name, str) and name:
            return name
        return f"the socket given for {uri}" if uri else "the socket given"

    def reopen(self) -> ProtocolConnection:
        if self._given_socket:
            raise LibvirtAdminError(
                "this admin connection runs over a socket it was given, so it cannot be reopened", ERR_INVALID_ARG
            )
        return ProtocolConnection(self.requested_uri, self.timeout)

    # -- the wire

    def _shut(self) -> None:
        with suppress(OSError):
            self._sock.close()

    def _fail(self, error: LibvirtAdminError) -> None:
        """The socket cannot be used any more (lock held): every call in flight gets error."""
        if self._failed is None:
            self._failed = error
            self._shut()
        for call in self._calls.values():
            if not call.done:
                call.done, call.error = True, error
        self._calls.clear()
        self._changed.notify_all()

    def _unusable(self) -> LibvirtAdminError:
        if self._closed:
            return LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG)
        # libvirt's words for a call on a connection whose socket failed before
        return LibvirtAdminError("internal error: client socket is closed", ERR_INTERNAL_ERROR, FROM_RPC)

    def _send(self, data: bytes, call: _Call, deadline: float) -> None:
        view = memoryview(data)
        sent = 0
        if not self._send_lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise unanswered(call.what, self.socket_path, self.timeout)
        try:
            while sent < len(view):
                try:
                    sent += self._sock.send(view[sent:], _NO_SIGNAL)
                    continue
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as exc:
                    error = _system_error("Cannot write data", exc.errno or errno.EIO)
                    with self._lock:
                        self._fail(error)
                    raise error from None
                if not _wait(self._sock, True, deadline):
                    error = unanswered(call.what, self.socket_path, self.timeout)
                    if sent:  # half a message went out: the stream is lost
                        with self._lock:
                            self._fail(error)
                    raise error
        finally:
            self._send_lock.release()

    def _receive(self, deadline: float) -> bytes | None:
        """The next whole message (without its length word), None when the deadline passes first. What
        was read of a message stays in the inbox for whichever thread reads next."""
        inbox = self._inbox
        while True:
            if len(inbox) >= _xdr.LENGTH_SIZE:
                size = _xdr.frame_length(bytes(inbox[: _xdr.LENGTH_SIZE]))
                if len(inbox) >= size:
                    message = bytes(inbox[_xdr.LENGTH_SIZE : size])
                    del inbox[:size]
                    return message
                wanted = size - len(inbox)
            else:
                size, wanted = None, _xdr.LENGTH_SIZE - len(inbox)
            # Wait for data first: the daemon has rarely answered by the time the call went out.
            if not self._readable(deadline):
                return None
            try:
                chunk = self._sock.recv(min(max(wanted, 65536), 1 << 20))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise _system_error("Cannot recv data", exc.errno or errno.EIO) from None
            if not chunk:
                if not inbox:
                    raise _xdr.rpc_error(END_OF_FILE)
                have = len(inbox)
                raise _xdr.rpc_error(
                    "End of file while reading data: the daemon closed the connection in the middle of a message "
                    f"({have} of its {size if size is not None else 'at least 4'} bytes read)"
                )
            inbox += chunk

    def _readable(self, deadline: float) -> bool:
        """Whether the socket has data (or EOF) before the deadline; only the reading thread asks."""
        if self._poller is None:
            return _wait(self._sock, False, deadline)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                if self._poller.poll(max(remaining * 1000, 1)):
                    return True
            except InterruptedError:
                continue

    def _deliver(self, message: bytes) -> None:
        """Hand a message to the call it answers (lock held); LibvirtAdminError for one that cannot be."""
        program, version, proc, kind, serial, status = _xdr.parse_header(message)
        if program != ADMIN_PROGRAM or version != ADMIN_PROTOCOL_VERSION:
            raise _xdr.rpc_error(
                f"the daemon sent a message of program {program:#x} version {version}, not of the admin protocol "
                f"(program {ADMIN_PROGRAM:#x} version {ADMIN_PROTOCOL_VERSION}): is {self.socket_path} a daemon's "
                "admin socket?"
            )
        if kind != _xdr.REPLY:
            raise _xdr.rpc_error(
                f"the daemon sent a message of type {kind} (procedure {proc}, serial {serial}), not a reply (type "
                f"{_xdr.REPLY})"
            )
        call = self._calls.pop(serial, None)
        if call is None:
            if serial in self._abandoned:  # the reply to a call given up on: too late
                self._abandoned.discard(serial)
                return
            raise _xdr.rpc_error(f"the daemon sent a reply with serial {serial}, to no call made (procedure {proc})")
        call.done = True
        if proc != call.proc:
            call.error = _xdr.rpc_error(
                f"the daemon's reply with serial {serial} is for procedure {proc}, but the call was procedure "
                f"{call.proc} (to {call.what})"
            )
        elif status == _xdr.OK:
            call.body = message[_xdr.HEADER_SIZE :]
        elif status == _xdr.ERROR:
            try:
                call.error = _xdr.remote_error(message[_xdr.HEADER_SIZE :], call.what)
            except LibvirtAdminError as error:  # a malformed remote_error
                call.error = error
        else:
            call.error = _xdr.rpc_error(
                f"Unexpected message status {status} in the daemon's reply to {call.what} (0 is ok, 1 an error)"
            )
        self._changed.notify_all()

    def _wait_for(self, call: _Call, deadline: float) -> bytes:
        """The body of call's reply. The waiting threads take turns at reading the socket: the reader hands
        every reply it reads to its caller and stops once its own is there."""
        with self._lock:
            while not call.done and self._reading:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._give_up(call)
                self._changed.wait(remaining)
            if not call.done:
                self._reading = True
                reader = True
            else:
                reader = False
        timed_out = False
        if reader:
            try:
                while not call.done:
                    message = self._receive(deadline)
                    if message is None:
                        timed_out = True
                        break
                    with self._lock:
                        self._deliver(message)
            except LibvirtAdminError as error:
                with self._lock:
                    self._fail(error)
            finally:
                with self._lock:
                    self._reading = False
                    self._changed.notify_all()
        if timed_out:
            with self._lock:
                return self._give_up(call)
        if call.error is not None:
            raise call.error
        return call.body

    def _give_up(self, call: _Call):
        """(lock held) The deadline passed: a reply that comes later is dropped."""
        if call.done:  # it came in just now
            if call.error is not None:
                raise call.error
            return call.body
        self._calls.pop(call.serial, None)
        self._abandoned.add(call.serial)
        raise unanswered(call.what, self.socket_path, self.timeout)

    def _call(self, proc: int, body: bytes = b"", subject: object = "") -> bytes:
        """Make one call; the body of its reply. subject fills the {} of what it does (_WHAT)."""
        deadline = time.monotonic() + self.timeout
        what = _WHAT[proc].format(subject)
        if self.pipelining:
            return self._exchange(proc, body, what, deadline)
        if not self._one_at_a_time.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise unanswered(what, self.socket_path, self.timeout)
        try:
            return self._exchange(proc, body, what, deadline)
        finally:
            self._one_at_a_time.release()

    def _exchange(self, proc: int, body: bytes, what: str, deadline: float) -> bytes:
        with self._lock:
            if self._closed or self._failed is not None:
                raise self._unusable()
            serial = self._serial
            self._serial = (self._serial + 1) & 0xFFFFFFFF
            call = _Call(serial, proc, what)
            self._calls[serial] = call
        message = _xdr.frame(_xdr.header(ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION, proc, _xdr.CALL, serial, _xdr.OK), body)
        try:
            self._send(message, call, deadline)
        except LibvirtAdminError:
            with self._lock:
                self._calls.pop(serial, None)
            raise
        return self._wait_for(call, deadline)

    # -- the seam

    def close(self) -> None:
        """Say goodbye (CONNECT_CLOSE, as the library does) and close the socket; never raises."""
        with self._lock:
            if self._closed:
                return
            usable = self._failed is None
        if usable:
            with suppress(LibvirtAdminError):
                self._call(PROC_CONNECT_CLOSE)
        with self._lock:
            self._closed = True
            self._fail(LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG))

    def uri(self) -> str:
        if self._closed:
            raise self._unusable()
        return self._uri

    def daemon_version(self) -> int:
        decoder = _xdr.Decoder(self._call(PROC_CONNECT_GET_LIB_VERSION), _WHAT[PROC_CONNECT_GET_LIB_VERSION])
        version = decoder.uhyper("the version")
        decoder.finish()
        return version

    def list_servers(self) -> list:
        what = _WHAT[PROC_CONNECT_LIST_SERVERS]
        decoder = _xdr.Decoder(self._call(PROC_CONNECT_LIST_SERVERS, _xdr.Encoder().uint(1).uint(0).value()), what)
        names = [
            decoder.string(ADMIN_STRING_MAX, "a server's name")
            for _index in range(decoder.count(ADMIN_SERVER_LIST_MAX, "servers"))
        ]
        count = decoder.uint("the number of servers")
        decoder.finish()
        if count != len(names):
            raise _xdr.rpc_error(f"the daemon's reply to {what} counts {count} servers but lists {len(names)}")
        return names

    def lookup_server(self, server: str) -> str:
        """The server's name as the daemon has it (LOOKUP_SERVER); ERR_NO_SERVER when it has none of it."""
        body = self._call(PROC_CONNECT_LOOKUP_SERVER, self._server(server).uint(0).value(), server)
        decoder = _xdr.Decoder(body, _WHAT[PROC_CONNECT_LOOKUP_SERVER].format(server))
        name = decoder.string(ADMIN_STRING_MAX, "the server's name")
        decoder.finish()
        return name

    @staticmethod
    def _server(server: str) -> _xdr.Encoder:
        return _xdr.Encoder().string(server, ADMIN_STRING_MAX, "the server name")

    @staticmethod
    def _client(client: AdminClient) -> _xdr.Encoder:
        encoder = ProtocolConnection._server(client.server)
        return encoder.uhyper(client.id).hyper(client.timestamp).uint(client.transport)

    def _params(self, proc: int, body: bytes, subject: object, limit: int) -> dict:
        decoder = _xdr.Decoder(self._call(proc, body, subject), _WHAT[proc].format(subject))
        values = decoder.typed_params(limit)
        decoder.finish()
        return values

    def _set_params(self, proc: int, server: str, values: dict, limit: int) -> None:
        params = [(name, _xdr.PARAM_UINT, check_uint(name, value)) for name, value in values.items()]
        self._look_up(server)
        body = self._server(server).typed_params(params, limit, "").uint(0).value()
        self._void(proc, body, server)

    def _void(self, proc: int, body: bytes, subject: object = "") -> None:
        decoder = _xdr.Decoder(self._call(proc, body, subject), _WHAT[proc].format(subject))
        decoder.finish()

    # A server is looked up before its first call on this connection, as the library backend does
    # (virAdmConnectLookupServer): the daemon words an unknown server differently in some calls (libvirt
    # 9.0 and 11.3, SET_THREADPOOL_PARAMETERS: "no server with matching name ..."), and a backend must fail
    # alike whichever it is. A daemon's servers are made at its start and never change while it runs, so
    # one lookup per server and connection is enough.

    def _look_up(self, server: str) -> None:
        if server not in self._known_servers:
            self.lookup_server(server)
            self._known_servers.add(server)

    def get_threadpool(self, server: str) -> dict:
        self._look_up(server)
        body = self._server(server).uint(0).value()
        return self._params(PROC_SERVER_GET_THREADPOOL_PARAMETERS, body, server, ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)

    def set_threadpool(self, server: str, values: dict) -> None:
        self._set_params(PROC_SERVER_SET_THREADPOOL_PARAMETERS, server, values, ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)

    def get_client_limits(self, server: str) -> dict:
        self._look_up(server)
        body = self._server(server).uint(0).value()
        return self._params(PROC_SERVER_GET_CLIENT_LIMITS, body, server, ADMIN_SERVER_CLIENT_LIMITS_MAX)

    def set_client_limits(self, server: str, values: dict) -> None:
        self._set_params(PROC_SERVER_SET_CLIENT_LIMITS, server, values, ADMIN_SERVER_CLIENT_LIMITS_MAX)

    def update_tls_files(self, server: str) -> None:
        self._look_up(server)
        self._void(PROC_SERVER_UPDATE_TLS_FILES, self._server(server).uint(0).value(), server)

    @contextmanager
    def clients(self, server: str):
        what = _WHAT[PROC_SERVER_LIST_CLIENTS].format(server)
        self._look_up(server)
        body = self._call(PROC_SERVER_LIST_CLIENTS, self._server(server).uint(1).uint(0).value(), server)
        decoder = _xdr.Decoder(body, what)
        listed = []
        for _index in range(decoder.count(ADMIN_CLIENT_LIST_MAX, "clients")):
            # admin_nonnull_client: the server (named as asked, as the library does), id, timestamp, transport
            decoder.string(ADMIN_STRING_MAX, "a client's server name")
            client_id = decoder.uhyper("a client's id")
            timestamp = decoder.hyper("a client's timestamp")
            transport = decoder.uint("a client's transport")
            listed.append(AdminClient(server, client_id, timestamp, transport))
        count = decoder.uint("the number of clients")
        decoder.finish()
        if count != len(listed):
            raise _xdr.rpc_error(f"the daemon's reply to {what} counts {count} clients but lists {len(listed)}")
        yield listed

    def client_info(self, client: AdminClient) -> dict:
        body = self._client(client).uint(0).value()
        return self._params(PROC_CLIENT_GET_INFO, body, client.id, ADMIN_CLIENT_INFO_PARAMETERS_MAX)

    def close_client(self, client: AdminClient) -> None:
        self._void(PROC_CLIENT_CLOSE, self._client(client).uint(0).value(), client.id)

    def _get_string(self, proc: int, optional: bool) -> str:
        decoder = _xdr.Decoder(self._call(proc, _xdr.Encoder().uint(0).value()), _WHAT[proc])
        if optional:
            text = decoder.optional_string(ADMIN_STRING_MAX, "the string")
        else:
            text = decoder.string(ADMIN_STRING_MAX, "the string")
        decoder.uint("the count")
        decoder.finish()
        return text or ""

    def get_logging_outputs(self) -> str:
        return self._get_string(PROC_CONNECT_GET_LOGGING_OUTPUTS, optional=False)

    def get_logging_filters(self) -> str:
        return self._get_string(PROC_CONNECT_GET_LOGGING_FILTERS, optional=True)

    def _set_string(self, proc: int, value: str, what: str) -> None:
        if not isinstance(value, str):
            raise LibvirtAdminError(f"{what} must be a string, got {value!r}", ERR_INVALID_ARG)
        self._void(proc, _xdr.Encoder().optional_string(value, ADMIN_STRING_MAX, what).uint(0).value())

    def set_logging_outputs(self, outputs: str) -> None:
        self._set_string(PROC_CONNECT_SET_LOGGING_OUTPUTS, outputs, "the logging outputs")

    def set_logging_filters(self, filters: str) -> None:
        self._set_string(PROC_CONNECT_SET_LOGGING_FILTERS, filters, "the logging filters")

    def set_daemon_timeout(self, seconds: int) -> None:
        body = _xdr.Encoder().uint(check_uint("seconds", seconds)).uint(0).value()
        self._void(PROC_CONNECT_SET_DAEMON_TIMEOUT, body)

    def daemon_shutdown(self, preserve: bool = False) -> None:
        """The daemon exits without answering (libvirt 11.2 to 12.x close the connection first): the
        connection closing is the call succeeding; "unknown procedure" (ERR_NO_SUPPORT) from an older one."""
        body = _xdr.Encoder().uint(DAEMON_SHUTDOWN_PRESERVE if preserve else 0).value()
        try:
            self._void(PROC_CONNECT_DAEMON_SHUTDOWN, body)
        except LibvirtAdminError as error:
            if error.message not in (END_OF_FILE, CONNECTION_RESET):
                raise
