"""A peer that plays a daemon's admin socket, for tests that need to control every byte it sends.

    peer = AdminPeer(handler)          # a thread serving one end of a socketpair
    conn = ProtocolConnection("libvirtd:///system", sock=peer.client_socket)
    ...
    peer.calls                         # [(procedure, serial, body)] as received

handler(call) returns what to send back for each call: bytes (sent as they are; reply(),
error_reply() and message() build them), a list of those, None to send nothing, or CLOSE to
close the connection. The default handler answers like a daemon with one server, "libvirtd".
listen(path, handler) serves every connection to a UNIX socket at path the same way.
Standard library only (the URI probes run it with the system's python3).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading

ADMIN_PROGRAM = 0x06900690
REPLY, ERROR = 1, 1
CLOSE = object()


class Call:
    def __init__(self, program: int, version: int, proc: int, kind: int, serial: int, status: int, body: bytes):
        self.program, self.version, self.proc, self.kind = program, version, proc, kind
        self.serial, self.status, self.body = serial, status, body


def message(program: int, version: int, proc: int, kind: int, serial: int, status: int, body: bytes = b"") -> bytes:
    data = struct.pack(">IIiiIi", program, version, proc, kind, serial, status) + body
    return struct.pack(">I", len(data) + 4) + data


def reply(call: Call, body: bytes = b"", **changes) -> bytes:
    """An OK reply to call; changes overrides header fields (program, version, proc, kind, serial, status)."""
    fields = {
        "program": call.program,
        "version": call.version,
        "proc": call.proc,
        "kind": REPLY,
        "serial": call.serial,
        "status": 0,
    }
    fields.update(changes)
    return message(body=body, **fields)


def xdr_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


def remote_error_body(code: int, domain: int, text: str | None, level: int = 2) -> bytes:
    """virNetMessageError with the given code, domain, message and level, nothing else set."""
    body = struct.pack(">ii", code, domain)
    body += struct.pack(">I", 0) if text is None else struct.pack(">I", 1) + xdr_string(text)
    body += struct.pack(">i", level) + struct.pack(">I", 0)  # level, dom
    body += struct.pack(">III", 0, 0, 0) + struct.pack(">ii", 0, 0) + struct.pack(">I", 0)  # str1-3, int1-2, net
    return body


def error_reply(call: Call, code: int, domain: int, text: str | None, level: int = 2) -> bytes:
    return reply(call, remote_error_body(code, domain, text, level), status=ERROR)


def default_handler(call: Call):
    """Answers like a libvirtd 9.0.0 with servers libvirtd and admin: its version, its servers, lookups of
    them; "unknown procedure" to any other call."""
    if call.proc in (1, 2):  # open, close
        return reply(call)
    if call.proc == 3:
        return reply(call, struct.pack(">Q", 9000000))
    if call.proc == 4:
        return reply(call, struct.pack(">I", 2) + xdr_string("libvirtd") + xdr_string("admin") + struct.pack(">I", 2))
    if call.proc == 5:  # look up a server: its name back, or the daemon's error
        size = struct.unpack(">I", call.body[:4])[0]
        name = call.body[4 : 4 + size].decode()
        if name in ("libvirtd", "admin"):
            return reply(call, xdr_string(name))
        return error_reply(call, 95, 7, f"Server not found: No server named '{name}'")
    return error_reply(call, 39, 7, f"unknown procedure: {call.proc}")


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(sock: socket.socket, handler, calls: list) -> None:
    """Answer the calls read from sock until it closes (or handler says CLOSE)."""
    with sock:
        while True:
            try:
                head = _read_exactly(sock, 4)
                if head is None:
                    return
                data = _read_exactly(sock, struct.unpack(">I", head)[0] - 4)
            except OSError:
                return
            if data is None:
                return
            call = Call(*struct.unpack(">IIiiIi", data[:24]), data[24:])
            calls.append(call)
            answer = handler(call)
            for item in answer if isinstance(answer, list) else [answer]:
                if item is CLOSE:
                    return
                if item:
                    try:
                        sock.sendall(item)
                    except OSError:
                        return


class AdminPeer:
    """A thread serving server_socket, one end of a socketpair; client_socket is the other end."""

    def __init__(self, handler=default_handler) -> None:
        self.client_socket, self.server_socket = socket.socketpair()
        self.calls: list = []
        self.thread = threading.Thread(target=serve, args=(self.server_socket, handler, self.calls), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        for sock in (self.client_socket, self.server_socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)


def listen(path: str, handler=default_handler) -> socket.socket:
    """A UNIX socket at path whose every connection a thread serves; close it to stop listening."""
    if os.path.lexists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn, handler, []), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener
