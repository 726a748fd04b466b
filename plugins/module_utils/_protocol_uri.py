# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""An admin URI resolved as libvirt-admin.so resolves it, for the protocol backend (_protocol): the
directories as GLib finds them, libvirt-admin.conf (uri_default, uri_aliases), libxml2's URI parser
and libvirt's socket rules, each with the library's error code, domain and words.

_protocol.resolve_uri() imports this only for what its own plain-URI path does not cover (a
libvirt-admin.conf that exists, a session URI, anything but `<daemon>:///system[?socket=path]`): every
module that connects would otherwise compile it on every run. Standard library only.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _confsyntax, _protocol
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_CONF_SYNTAX,
    ERR_INTERNAL_ERROR,
    FROM_ADMIN,
    FROM_CONF,
    FROM_NONE,
    FROM_URI,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import (
    ADMIN_CONF,
    _error,
    _system_error,
    _text,
)

# virErrorNumber values of the errors raised here.
ERR_CONFIG_UNSUPPORTED = 67


def _cut(data: bytes) -> bytes:
    """A C string: up to its first NUL."""
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def _bytes(value: str) -> bytes:
    """A string of the config file, as libvirt keeps it: its bytes, up to its first NUL."""
    return _cut(value.encode("utf-8", "surrogateescape"))


# ---------------------------------------------------------------- directories, as GLib finds them


def _build_filename(*elements: str) -> str:
    """g_build_filename(): the elements joined by single slashes; the first one's leading and the last
    one's trailing slashes kept, empty elements skipped."""
    parts = []
    leading = trailing = None
    single = None
    for element in elements:
        if not element:
            continue
        start = len(element) - len(element.lstrip("/"))
        end = len(element.rstrip("/"))
        if end < start:  # only slashes
            end = start
        trailing = element[len(element.rstrip("/")) :] if element.rstrip("/") else element
        if leading is None:
            leading = element[:start]
            single = element if end <= start else None
        else:
            single = None
        if end > start:
            parts.append(element[start:end])
    if single is not None:
        return single
    if leading is None:
        return ""
    return leading + "/".join(parts) + (trailing if parts else "")


def _home_dir() -> str:
    home = os.environ.get("HOME")
    if home is None:
        try:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError):
            home = "/"
    return home


def _xdg_dir(variable: str, fallback: str) -> str:
    value = os.environ.get(variable)
    return value if value else _build_filename(_home_dir(), fallback)


def user_runtime_directory() -> str:
    """virGetUserRuntimeDirectory(): $XDG_RUNTIME_DIR/libvirt, else the user's cache directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return _build_filename(runtime, "libvirt")
    return _build_filename(_xdg_dir("XDG_CACHE_HOME", ".cache"), "libvirt")


def admin_conf_path() -> str:
    """libvirt-admin.conf: the system's for root, else in the user's configuration directory."""
    if os.geteuid() == 0:
        return _protocol.system_conf_path()
    return f"{_build_filename(_xdg_dir('XDG_CONFIG_HOME', '.config'), 'libvirt')}/{ADMIN_CONF}"


# ---------------------------------------------------------------- libvirt-admin.conf (src/util/virconf.c)


class _Conf:
    """A parsed libvirt-admin.conf (or none: every getter then finds nothing)."""

    def __init__(self, filename: str | None = None, values: dict | None = None) -> None:
        self.filename = filename
        self.values = values or {}  # as _confsyntax.read_values gives them

    @classmethod
    def load(cls) -> _Conf:
        """virConfLoadConfig(): the file for this user, when it exists."""
        path = admin_conf_path()
        if not os.access(path, os.F_OK):
            return cls()
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise _system_error(f"Failed to open file '{path}'", exc.errno or errno.EIO, FROM_NONE) from None
        chunks, size = [], 0
        try:
            while size <= _confsyntax.MAX_CONFIG_BYTES:
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise _system_error(f"Failed to read file '{path}'", exc.errno or errno.EIO, FROM_NONE) from None
        finally:
            os.close(descriptor)
        if size > _confsyntax.MAX_CONFIG_BYTES:  # virFileReadLimFD's word for a file over its limit
            raise _system_error(f"Failed to read file '{path}'", errno.EOVERFLOW, FROM_NONE)
        text = b"".join(chunks).decode("utf-8", "surrogateescape")
        return cls(path, _confsyntax.read_values(text, source=path))

    def _value(self, name: str):
        return self.values.get(name)

    def string(self, name: str) -> bytes | None:
        value = self._value(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _error(
                f"internal error: {self.filename}: expected a string for '{name}' parameter",
                ERR_INTERNAL_ERROR,
                FROM_CONF,
            )
        return _bytes(value)

    def string_list(self, name: str) -> list | None:
        value = self._value(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise _error(
                f"internal error: {self.filename}: expected a string list for '{name}' parameter",
                ERR_INTERNAL_ERROR,
                FROM_CONF,
            )
        if not all(isinstance(item, str) for item in value):
            raise _error(
                f"configuration file syntax error: {self.filename}: expected a string list for '{name}' parameter",
                ERR_CONF_SYNTAX,
                FROM_CONF,
            )
        return [_bytes(item) for item in value]


_ALIAS_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _resolve_alias(conf: _Conf, name: bytes) -> bytes | None:
    """virURIResolveAlias(): the URI uri_aliases gives the name, or None."""
    for entry in conf.string_list("uri_aliases") or []:
        equals = entry.find(b"=")
        if equals < 0:
            raise _error(
                f"configuration file syntax error: Malformed 'uri_aliases' config entry '{_text(entry)}', "
                "expected 'alias=uri://host/path'",
                ERR_CONF_SYNTAX,
                FROM_URI,
            )
        if any(char not in _ALIAS_CHARS for char in entry[:equals]):
            raise _error(
                f"configuration file syntax error: Malformed 'uri_aliases' config entry '{_text(entry)}', "
                "aliases may only contain 'a-Z, 0-9, _, -'",
                ERR_CONF_SYNTAX,
                FROM_URI,
            )
        if entry[:equals] == name:
            return entry[equals + 1 :]
    return None


# ---------------------------------------------------------------- URIs (libxml2's uri.c, RFC 3986; viruri.c)

_ALPHA = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGIT = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_UNRESERVED = _ALPHA | _DIGIT | frozenset(b"-._~")
_SUB_DELIMS = frozenset(b"!$&'()*+,;=")
_SCHEME = _ALPHA | _DIGIT | frozenset(b"+-.")
# RFC 2396's classes, which libxml2 escapes by when it formats a URI.
_UNRESERVED_2396 = _ALPHA | _DIGIT | frozenset(b"-_.!~*'()")
_RESERVED_2396 = frozenset(b";/?:@&=+$,[]")
_SAVE_USER = _UNRESERVED_2396 | frozenset(b";:&=+$,")
_SAVE_PATH = _UNRESERVED_2396 | frozenset(b"/;@&=+$,")
_SAVE_FRAGMENT = _UNRESERVED_2396 | _RESERVED_2396
_INT_MAX = 2**31 - 1


def _unescape(data: bytes) -> bytes:
    """xmlURIUnescapeString(), up to the first NUL as C would read it."""
    out = bytearray()
    index = 0
    while index < len(data):
        if len(data) - index > 2 and data[index] == 0x25 and data[index + 1] in _HEX and data[index + 2] in _HEX:
            out.append(int(data[index + 1 : index + 3], 16))
            index += 3
        else:
            out.append(data[index])
            index += 1
    return _cut(bytes(out))


def _escape(data: bytes, keep: frozenset) -> bytes:
    return b"".join(bytes((char,)) if char in keep else b"%%%02X" % char for char in data)


class URI:
    """A parsed URI as virURIParse() leaves it (byte strings; None for a missing part)."""

    def __init__(self) -> None:
        self.scheme = self.server = self.user = self.path = self.query = self.fragment = None
        self.port = 0
        self.params: list = []  # [(name, value)], unescaped

    def format(self) -> str:
        """virURIFormat(): the URI back as text, as virAdmConnectGetURI() returns it."""
        server, port = self.server, self.port
        if server is not None and b":" in server:
            server = b"[" + server + b"]"
        if server is None and not port:
            port = -1
        out = bytearray()
        if self.scheme is not None:
            out += self.scheme + b":"
        if server is not None or port == -1:
            out += b"//"
            if self.user is not None:
                out += _escape(self.user, _SAVE_USER) + b"@"
            if server is not None:
                out += server
                if port > 0:
                    out += b":%d" % port
        if self.path is not None:
            path = self.path
            if self.scheme == b"file" and len(path) >= 3 and path[0] == 0x2F and path[1] in _ALPHA and path[2] == 0x3A:
                out += path[:3]
                path = path[3:]
            out += _escape(path, _SAVE_PATH)
        if self.query is not None:
            out += b"?" + self.query
        if self.fragment is not None:
            out += b"#" + _escape(self.fragment, _SAVE_FRAGMENT)
        return _text(bytes(out))


class _XmlUri:
    """libxml2 2.9's RFC 3986 parser (xmlParseURI), over bytes ending in NULs as a C string does."""

    def __init__(self, text: bytes) -> None:
        self.s = text + b"\0\0\0"
        self.port = 0
        self.clean()

    def clean(self) -> None:  # xmlCleanURI: every part but the port
        self.scheme = self.server = self.user = self.path = self.query_raw = self.fragment = None

    def pct(self, i: int) -> bool:
        s = self.s
        return s[i] == 0x25 and s[i + 1] in _HEX and s[i + 2] in _HEX

    def pchar(self, i: int) -> bool:
        char = self.s[i]
        return char in _UNRESERVED or self.pct(i) or char in _SUB_DELIMS or char in b":@"

    def step(self, i: int) -> int:
        return i + 3 if self.s[i] == 0x25 else i + 1

    def parse(self) -> bool:
        if self.absolute() != 0:
            self.clean()
            if self.relative() != 0:
                self.clean()
                return False
        return True

    def absolute(self) -> int:
        s = self.s
        if s[0] not in _ALPHA:
            return 2
        i = 1
        while s[i] in _SCHEME:
            i += 1
        self.scheme = s[:i]
        if s[i] != 0x3A:
            return 1
        ret, i = self.hier_part(i + 1)
        if ret:
            return ret
        return self.tail(i)

    def relative(self) -> int:
        s = self.s
        i = 0
        if s[0] == 0x2F and s[1] == 0x2F:
            ret, i = self.authority(2)
            if ret:
                return ret
            i = self.path_abempty(i)
        elif s[0] == 0x2F:
            ret, i = self.path_absolute(0)
        elif self.pchar(0):
            ret, i = self.path_rootless(0, forbid=0x3A)
            if ret:
                return ret
        else:
            self.path = None
        return self.tail(i)

    def tail(self, i: int) -> int:
        """[ "?" query ] [ "#" fragment ], then the end of the string."""
        s = self.s
        if s[i] == 0x3F:
            start = i = i + 1
            while self.pchar(i) or s[i] in b"/?":
                i = self.step(i)
            self.query_raw = s[start:i]
        if s[i] == 0x23:
            start = i = i + 1
            while self.pchar(i) or s[i] in b"/?[]":
                i = self.step(i)
            self.fragment = _unescape(s[start:i])
        if s[i] != 0:
            self.clean()
            return 1
        return 0

    def hier_part(self, i: int) -> tuple:
        s = self.s
        if s[i] == 0x2F and s[i + 1] == 0x2F:
            ret, i = self.authority(i + 2)
            if ret:
                return ret, i
            if self.server is None:
                self.port = -1
            return 0, self.path_abempty(i)
        if s[i] == 0x2F:
            return self.path_absolute(i)
        if self.pchar(i):
            return self.path_rootless(i)
        self.path = None
        return 0, i

    def authority(self, i: int) -> tuple:
        s = self.s
        start = i
        while s[i] in _UNRESERVED or self.pct(i) or s[i] in _SUB_DELIMS or s[i] == 0x3A:
            i = self.step(i)
        if s[i] == 0x40:  # userinfo "@"
            # xmlURIUnescapeString() takes a length of 0 for "up to the end": an empty userinfo becomes the rest
            self.user = _unescape(s[start:i] if i != start else s[start:])
            i += 1
        else:
            i = start
        host = i
        if s[i] == 0x5B:  # an IP literal in brackets
            i += 1
            while s[i] not in (0x5D, 0):
                i += 1
            if s[i] != 0x5D:
                return 1, i
            i += 1
        else:
            # libxml2 2.9's IPv4 branch never matches (it skips no dot after the second octet): a reg-name
            while s[i] in _UNRESERVED or self.pct(i) or s[i] in _SUB_DELIMS:
                i = self.step(i)
        self.server = _unescape(s[host:i]) if i != host else None
        if s[i] == 0x3A:  # the port
            i += 1
            if s[i] not in _DIGIT:
                return 1, i
            port = 0
            while s[i] in _DIGIT:
                digit = s[i] - 0x30
                if port > _INT_MAX // 10 or port * 10 > _INT_MAX - digit:
                    return 1, i
                port = port * 10 + digit
                i += 1
            self.port = port
        return 0, i

    def segment(self, i: int, forbid: int, empty: bool) -> tuple:
        if not self.pchar(i):
            return (0 if empty else 1), i
        while self.pchar(i) and self.s[i] != forbid:
            i = self.step(i)
        return 0, i

    def _set_path(self, start: int, i: int) -> None:
        self.path = _unescape(self.s[start:i]) if i != start else None

    def path_abempty(self, i: int) -> int:
        start = i
        while self.s[i] == 0x2F:
            _ret, i = self.segment(i + 1, 0, True)
        self._set_path(start, i)
        return i

    def path_absolute(self, i: int) -> tuple:
        start = i
        ret, j = self.segment(i + 1, 0, False)
        i += 1
        if ret == 0:
            i = j
            while self.s[i] == 0x2F:
                _ret, i = self.segment(i + 1, 0, True)
        self._set_path(start, i)
        return 0, i

    def path_rootless(self, i: int, forbid: int = 0) -> tuple:
        start = i
        ret, i = self.segment(i, forbid, False)
        if ret:
            return ret, i
        while self.s[i] == 0x2F:
            _ret, i = self.segment(i + 1, 0, True)
        self._set_path(start, i)
        return 0, i


def parse_uri(text: str) -> URI:
    """virURIParse(): the URI's parts and its query parameters; LibvirtAdminError as libvirt words it
    when libxml2 cannot parse it."""
    data = _cut(text.encode("utf-8", "surrogateescape"))
    parsed = _XmlUri(data)
    if not parsed.parse():
        raise _error(f"internal error: Unable to parse URI {_text(data)}", ERR_INTERNAL_ERROR, FROM_URI)
    uri = URI()
    uri.scheme, uri.server, uri.user, uri.path = parsed.scheme, parsed.server, parsed.user, parsed.path
    uri.query, uri.fragment = parsed.query_raw, parsed.fragment
    uri.port = parsed.port if uri.server else 0
    server = uri.server
    if server and server.startswith(b"[") and server.endswith(b"]") and b":" in server:
        uri.server = server[1:-1]
    query = uri.query or b""
    while query:  # virURIParseParams: name=value pairs split at "&" (or, when there is none, ";")
        end = query.find(b"&")
        if end < 0:
            end = query.find(b";")
        if end < 0:
            end = len(query)
        section, query = query[:end], query[end + 1 :]
        equals = section.find(b"=")
        if not section or equals == 0:
            continue
        if equals < 0:
            uri.params.append((_unescape(section), b""))
        else:
            uri.params.append((_unescape(section[:equals]), _unescape(section[equals + 1 :])))
    return uri


def _socket_path(uri: URI) -> bytes:
    """getSocketPath() of libvirt-admin.c: ?socket=, else the admin socket of the daemon the scheme names
    (libvirtd's is libvirt-admin-sock), in /run/libvirt or the user's runtime directory."""
    runtime = user_runtime_directory()
    path = None
    for name, value in uri.params:
        if name != b"socket":
            raise _error(
                f"unsupported configuration: Unknown URI parameter '{_text(name)}'", ERR_CONFIG_UNSUPPORTED, FROM_ADMIN
            )
        path = value
    if path is not None:
        return path
    scheme = uri.scheme
    if scheme is None:
        raise _error("unsupported configuration: No URI scheme specified", ERR_CONFIG_UNSUPPORTED, FROM_ADMIN)
    if not scheme.startswith(b"virt") and scheme != b"libvirtd":
        raise _error(
            f"unsupported configuration: Unsupported URI scheme '{_text(scheme)}'", ERR_CONFIG_UNSUPPORTED, FROM_ADMIN
        )
    base = _protocol.admin_socket_name(scheme.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    if uri.path == b"/system":
        return f"{_protocol.RUNSTATEDIR}/libvirt/".encode() + base
    if uri.path == b"/session":
        return runtime.encode("utf-8", "surrogateescape") + b"/" + base
    raise _error(
        f"unsupported configuration: Invalid URI path '{_text(uri.path or b'')}', try '/system'",
        ERR_CONFIG_UNSUPPORTED,
        FROM_ADMIN,
    )


def default_uri(conf: _Conf) -> bytes:
    """virAdmGetDefaultURI(): LIBVIRT_ADMIN_DEFAULT_URI, uri_default, then libvirtd:///system for root and
    libvirtd:///session for anyone else."""
    name = os.environ.get("LIBVIRT_ADMIN_DEFAULT_URI")
    if name:
        return _cut(name.encode("utf-8", "surrogateescape"))
    configured = conf.string("uri_default")
    if configured is not None:
        return configured
    return b"libvirtd:///system" if os.geteuid() == 0 else b"libvirtd:///session"


def resolve_uri(uri: str | None = None) -> tuple:
    """(the URI as virAdmConnectGetURI() reports it, the path of the socket to connect to), as
    virAdmConnectOpen() finds them; LibvirtAdminError with libvirt's code, domain and words when it
    refuses the URI or libvirt-admin.conf."""
    conf = _Conf.load()
    name = _cut(uri.encode("utf-8", "surrogateescape")) if uri is not None else default_uri(conf)
    alias = _resolve_alias(conf, name)
    parsed = parse_uri((alias if alias is not None else name).decode("utf-8", "surrogateescape"))
    return parsed.format(), _socket_path(parsed)
