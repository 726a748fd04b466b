# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""XDR (RFC 4506) as libvirt's RPC protocol uses it, for _protocol.

- Encoder and Decoder: the XDR types libvirt's .x files use, every string and
  array checked against its bound, a reply checked to end where its type does.
- Typed parameters (admin_typed_param): all seven types, both ways.
- Message framing (src/rpc/virnetprotocol.x): a 4-byte big-endian length that
  counts itself, then a header of six 32-bit words (program, version,
  procedure, type, serial, status), then the body.
- remote_error (virNetMessageError) turned into LibvirtAdminError with the
  code, domain and message libvirt's client library gives for it.

Anything malformed the daemon sends raises LibvirtAdminError with ERR_RPC and
domain VIR_FROM_RPC, saying what was wrong; nothing else escapes a Decoder.
Standard library only; nothing here knows about Ansible or sockets.
"""

from __future__ import annotations

import struct

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INTERNAL_ERROR,
    ERR_OPERATION_TIMEOUT,
    ERR_RPC,
    FROM_NONE,
    FROM_RPC,
    LibvirtAdminError,
    utf8,
)

# More virErrorDomain values (include/libvirt/virterror.h), for the messages libvirt words by domain.
FROM_XEN = 1
FROM_QEMU = 10
FROM_REMOTE = 13
FROM_NWFILTER = 33

# virErrorNumber values used below (the ones the seam's callers look at are in _admin).
ERR_NO_SUPPORT = 3
WAR_NO_NWFILTER = 60
ERR_INVALID_NWFILTER = 61
ERR_NO_NWFILTER = 62
ERR_BUILD_FIREWALL = 63
WAR_NO_SECRET = 64
ERR_INVALID_SECRET = 65
ERR_MIGRATE_PERSIST_FAILED = 69
LEVEL_ERROR = 2  # virErrorLevel VIR_ERR_ERROR

# src/rpc/virnetprotocol.x
LENGTH_SIZE = 4  # VIR_NET_MESSAGE_LEN_MAX: the length word
HEADER_SIZE = 24  # VIR_NET_MESSAGE_HEADER_MAX: six 32-bit words
# VIR_NET_MESSAGE_MAX: the most a message may hold besides its length word (32 MiB since libvirt 5.x;
# libvirt 9.0 and 11.3 refuse a longer one with the error below).
MESSAGE_MAX = 33554432
STRING_MAX = 4194304  # VIR_NET_MESSAGE_STRING_MAX: the strings of remote_error
UUID_SIZE = 16  # VIR_UUID_BUFLEN

# virNetMessageType
CALL = 0
REPLY = 1
MESSAGE = 2
STREAM = 3
CALL_WITH_FDS = 4
REPLY_WITH_FDS = 5
STREAM_HOLE = 6
# virNetMessageStatus
OK = 0
ERROR = 1
CONTINUE = 2

# virTypedParameterType
PARAM_INT = 1
PARAM_UINT = 2
PARAM_LLONG = 3
PARAM_ULLONG = 4
PARAM_DOUBLE = 5
PARAM_BOOLEAN = 6
PARAM_STRING = 7
PARAM_TYPES = {
    PARAM_INT: "int",
    PARAM_UINT: "uint",
    PARAM_LLONG: "llong",
    PARAM_ULLONG: "ullong",
    PARAM_DOUBLE: "double",
    PARAM_BOOLEAN: "boolean",
    PARAM_STRING: "string",
}
# VIR_TYPED_PARAM_FIELD_LENGTH: a field name is a char[80], NUL included.
PARAM_FIELD_MAX = 79

_HEADER = struct.Struct(">IIiiIi")
_LENGTH = struct.Struct(">I")
_RANGES = {
    PARAM_INT: (-(2**31), 2**31 - 1),
    PARAM_UINT: (0, 2**32 - 1),
    PARAM_LLONG: (-(2**63), 2**63 - 1),
    PARAM_ULLONG: (0, 2**64 - 1),
}


def rpc_error(message: str) -> LibvirtAdminError:
    """A protocol violation (or a message we cannot encode): ERR_RPC from the RPC layer."""
    return LibvirtAdminError(message, ERR_RPC, FROM_RPC)


def c_string(data: bytes) -> str:
    """A string as libvirt's C code sees it: up to the first NUL, UTF-8 (invalid bytes replaced)."""
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]
    return data.decode("utf-8", "replace")


class Encoder:
    """Builds an XDR body: call the methods in the order of the .x struct, then value()."""

    def __init__(self) -> None:
        self._parts: list = []

    def value(self) -> bytes:
        return b"".join(self._parts)

    def int(self, value: int) -> Encoder:
        self._parts.append(struct.pack(">i", value))
        return self

    def uint(self, value: int) -> Encoder:
        self._parts.append(struct.pack(">I", value))
        return self

    def hyper(self, value: int) -> Encoder:
        self._parts.append(struct.pack(">q", value))
        return self

    def uhyper(self, value: int) -> Encoder:
        self._parts.append(struct.pack(">Q", value))
        return self

    def double(self, value: float) -> Encoder:
        self._parts.append(struct.pack(">d", value))
        return self

    def string(self, value: str, limit: int, what: str) -> Encoder:
        """string<limit>; what names it in the error when it is longer."""
        data = utf8(value, what)
        if len(data) > limit:
            raise rpc_error(
                f"Unable to encode message payload: {what} is {len(data)} bytes long, more than the protocol's "
                f"limit of {limit}"
            )
        self._parts.append(_LENGTH.pack(len(data)) + data + b"\0" * (-len(data) % 4))
        return self

    def optional_string(self, value: str | None, limit: int, what: str) -> Encoder:
        """A string pointer (admin_string): absent for None."""
        if value is None:
            return self.uint(0)
        self.uint(1)
        return self.string(value, limit, what)

    def typed_params(self, params: list, limit: int, what: str) -> Encoder:
        """admin_typed_param params<limit> from (field, type, value) triples."""
        if len(params) > limit:
            # virTypedParamsSerialize's words, as the C library refuses the same call
            raise rpc_error(f"too many parameters '{len(params)}' for limit '{limit}'")
        self.uint(len(params))
        for field, kind, value in params:
            self.string(field, STRING_MAX, f"the name of typed parameter {field[:80]!r}")
            self.int(kind)
            if kind in _RANGES:
                low, high = _RANGES[kind]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise rpc_error(f"typed parameter {field} of type {PARAM_TYPES[kind]} cannot hold {value!r}")
                {PARAM_INT: self.int, PARAM_UINT: self.uint, PARAM_LLONG: self.hyper, PARAM_ULLONG: self.uhyper}[kind](
                    value
                )
            elif kind == PARAM_DOUBLE:
                self.double(float(value))
            elif kind == PARAM_BOOLEAN:
                self.int(1 if value else 0)
            elif kind == PARAM_STRING:
                self.string(value, STRING_MAX, f"the string of typed parameter {field}")
            else:
                raise rpc_error(f"unknown parameter type: {kind}")
        return self


class Decoder:
    """Reads an XDR body the daemon sent. what says which reply it is, for the errors."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._offset = 0
        self.what = what

    def _take(self, size: int, item: str) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise rpc_error(
                f"the daemon's reply to {self.what} ends early: {item} needs {size} bytes at offset "
                f"{self._offset}, the body has {len(self._data)}"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def int(self, item: str = "an int") -> int:
        return struct.unpack(">i", self._take(4, item))[0]

    def uint(self, item: str = "an unsigned int") -> int:
        return struct.unpack(">I", self._take(4, item))[0]

    def hyper(self, item: str = "a hyper") -> int:
        return struct.unpack(">q", self._take(8, item))[0]

    def uhyper(self, item: str = "an unsigned hyper") -> int:
        return struct.unpack(">Q", self._take(8, item))[0]

    def double(self, item: str = "a double") -> float:
        return struct.unpack(">d", self._take(8, item))[0]

    def present(self, item: str) -> bool:
        """The flag of an optional (XDR pointer): 0 or 1, nothing else."""
        flag = self.uint(item)
        if flag > 1:
            raise rpc_error(f"the daemon's reply to {self.what} has {flag} as the presence flag of {item}, not 0 or 1")
        return flag == 1

    def string(self, limit: int, item: str) -> str:
        size = self.uint(f"the length of {item}")
        if size > limit:
            raise rpc_error(
                f"the daemon's reply to {self.what} has a string of {size} bytes for {item}, more than the "
                f"protocol's limit of {limit}"
            )
        data = self._take(size + (-size % 4), item)
        return c_string(data[:size])

    def optional_string(self, limit: int, item: str) -> str | None:
        return self.string(limit, item) if self.present(item) else None

    def count(self, limit: int, item: str) -> int:
        """The length of an array<limit>."""
        size = self.uint(f"the number of {item}")
        if size > limit:
            raise rpc_error(
                f"the daemon's reply to {self.what} has {size} {item}, more than the protocol's limit of {limit}"
            )
        return size

    def typed_params(self, limit: int, item: str = "typed parameters") -> dict:
        """admin_typed_param params<limit> as {field: value}, in the daemon's order: ints for the four integer
        types, float, bool, str."""
        values = {}
        for _index in range(self.count(limit, item)):
            field = self.string(STRING_MAX, "a typed parameter's name")
            if len(field.encode("utf-8", "surrogateescape")) > PARAM_FIELD_MAX:
                raise rpc_error(
                    f"the daemon's reply to {self.what} has a typed parameter name longer than "
                    f"{PARAM_FIELD_MAX} bytes: {field[:100]!r}"
                )
            kind = self.int(f"the type of typed parameter {field}")
            if kind == PARAM_INT:
                values[field] = self.int(field)
            elif kind == PARAM_UINT:
                values[field] = self.uint(field)
            elif kind == PARAM_LLONG:
                values[field] = self.hyper(field)
            elif kind == PARAM_ULLONG:
                values[field] = self.uhyper(field)
            elif kind == PARAM_DOUBLE:
                values[field] = self.double(field)
            elif kind == PARAM_BOOLEAN:
                # The C library keeps the low byte (virTypedParameter's b is a char).
                values[field] = self.int(field) & 0xFF != 0
            elif kind == PARAM_STRING:
                values[field] = self.string(STRING_MAX, field)
            else:
                raise rpc_error(f"the daemon's reply to {self.what} has unknown parameter type {kind} for {field}")
        return values

    def skip_fixed(self, size: int, item: str) -> None:
        """Fixed-length opaque data (padded to 4 bytes), read and dropped."""
        self._take(size + (-size % 4), item)

    def finish(self) -> None:
        """The body must end here."""
        if self._offset != len(self._data):
            raise rpc_error(
                f"the daemon's reply to {self.what} has {len(self._data) - self._offset} bytes of trailing "
                f"garbage after its {self._offset} bytes"
            )


def header(program: int, version: int, procedure: int, kind: int, serial: int, status: int) -> bytes:
    return _HEADER.pack(program, version, procedure, kind, serial, status)


def frame(head: bytes, body: bytes) -> bytes:
    """A whole message: the length word (counting itself), header and body."""
    size = LENGTH_SIZE + len(head) + len(body)
    if size - LENGTH_SIZE > MESSAGE_MAX:
        raise rpc_error(f"Unable to encode message payload: the message would be {size} bytes, more than {MESSAGE_MAX}")
    return _LENGTH.pack(size) + head + body


def frame_length(word: bytes) -> int:
    """The length a message's first 4 bytes announce, checked: at least a header, at most MESSAGE_MAX
    besides the length word."""
    size = _LENGTH.unpack(word)[0]
    if size < LENGTH_SIZE + HEADER_SIZE:
        raise rpc_error(
            f"packet {size} bytes received from server too small, want at least {LENGTH_SIZE + HEADER_SIZE} "
            "(the length word and the header)"
        )
    if size - LENGTH_SIZE > MESSAGE_MAX:
        # libvirt's own words for the same packet
        raise rpc_error(f"packet {size - LENGTH_SIZE} bytes received from server too large, want {MESSAGE_MAX}")
    return size


def parse_header(data: bytes) -> tuple:
    """(program, version, procedure, type, serial, status) of a message without its length word."""
    return _HEADER.unpack_from(data)


def _skip_optional_object(decoder: Decoder, item: str, with_id: bool) -> None:
    # virNetMessageNonnullDomain / ...Network: name, uuid and (for a domain) id; unused by libvirt.
    if decoder.present(item):
        decoder.string(STRING_MAX, f"the name of {item}")
        decoder.skip_fixed(UUID_SIZE, f"the UUID of {item}")
        if with_id:
            decoder.int(f"the id of {item}")


def remote_error(body: bytes, what: str) -> LibvirtAdminError:
    """The LibvirtAdminError a remote_error reply stands for, as libvirt's client library raises it
    (virNetClientProgramDispatchError): the daemon's code, domain and message, with the library's two
    rewrites: the error codes of libvirt 0.7.x daemons, and "unknown procedure" as VIR_ERR_NO_SUPPORT
    (the daemon is older than the call)."""
    decoder = Decoder(body, what)
    code = decoder.int("the error code")
    domain = decoder.int("the error domain")
    message = decoder.optional_string(STRING_MAX, "the error message")
    level = decoder.int("the error level")
    _skip_optional_object(decoder, "the error's domain", with_id=True)
    for name in ("str1", "str2", "str3"):
        decoder.optional_string(STRING_MAX, f"the error's {name}")
    decoder.int("the error's int1")
    decoder.int("the error's int2")
    _skip_optional_object(decoder, "the error's network", with_id=False)
    decoder.finish()

    # Error numbers daemons of libvirt 0.7.1 to 0.7.7 sent (include/libvirt/virterror.h).
    if code in (ERR_INVALID_NWFILTER, ERR_NO_NWFILTER, ERR_BUILD_FIREWALL):
        if domain != FROM_NWFILTER:
            code += 4
    elif code == WAR_NO_SECRET:
        if domain == FROM_QEMU:
            code = ERR_OPERATION_TIMEOUT
    elif code == ERR_INVALID_SECRET and domain == FROM_XEN:
        code = ERR_MIGRATE_PERSIST_FAILED

    if (
        domain in (FROM_REMOTE, FROM_RPC)
        and code == ERR_RPC
        and level == LEVEL_ERROR
        and message is not None
        and message.startswith("unknown procedure")
    ):
        code = ERR_NO_SUPPORT
    if code == 0:
        # virRaiseErrorFull ignores VIR_ERR_OK, so the library reports that it knows no cause.
        return LibvirtAdminError("An error occurred, but the cause is unknown", ERR_INTERNAL_ERROR, FROM_NONE)
    return LibvirtAdminError(message if message is not None else "Unknown error", code, domain)
