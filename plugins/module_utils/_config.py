# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A daemon's config file (/etc/libvirt/libvirtd.conf, virtqemud.conf, ...):
which key persists which runtime setting, reading the file as libvirt does,
editing it with the smallest change, and writing it atomically.

The syntax is libvirt's virconf (src/util/virconf.c), mirrored here rule for
rule: `name = value` statements separated by a line end or ';'; a name is an
ASCII letter then letters, digits or '_'; a value is an integer (optional
sign), a string in "...", '...' or \"\"\"...\"\"\" (no escape sequences of any
kind: a string simply runs to its closing quote, and only the triple-quoted
form may span lines), or a list `[ value, value ]` that may span lines and
take a trailing comma; '#' starts a comment, on a line of its own or after a
value (not inside a list). A file of nothing but blanks is an error to
libvirt, an empty file is not.

When a key is assigned more than once, libvirt uses the FIRST assignment
(virConfGetValue returns the first entry of that name; seen on libvirt 9.0),
and read_values reports that one. set_values rewrites every active
assignment of a key it changes, so that the file says one thing whatever a
reader picks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_INVALID_ARG,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)

# virErrorNumber VIR_ERR_CONF_SYNTAX: what libvirt reports for a file it cannot parse.
ERR_CONF_SYNTAX = 33

CONFIG_DIR = "/etc/libvirt"
DEFAULT_DAEMON = "libvirtd"
ADMIN_SERVER = "admin"
NEW_FILE_MODE = 0o644

# kind (the module it belongs to) -> the settings of that kind, by our names
KINDS = {
    "threadpool": ("min_workers", "max_workers", "prio_workers"),
    "clients": ("max_clients", "max_unauth_clients"),
    "logging": ("outputs", "filters"),
}
# Config keys whose value is one string of space-separated items, which we also take as a list.
LOG_KEYS = ("log_outputs", "log_filters")
# Daemons whose servers run without worker threads and whose one client key sets both limits.
SHARED_LIMIT_DAEMONS = ("virtlogd", "virtlockd")

_MAIN_SERVER_KEYS = {
    "min_workers": "min_workers",
    "max_workers": "max_workers",
    "prio_workers": "prio_workers",
    "max_clients": "max_clients",
    "max_unauth_clients": "max_anonymous_clients",
}
_ADMIN_SERVER_KEYS = {
    "min_workers": "admin_min_workers",
    "max_workers": "admin_max_workers",
    "max_clients": "admin_max_clients",
}
_LOGGING_KEYS = {"outputs": "log_outputs", "filters": "log_filters"}

_DAEMON_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BLANKS = " \t"
_EOL = "\n\r"
_SPACE = _BLANKS + _EOL
_DIGITS = "0123456789"
_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS = _ALPHA + _DIGITS + "_"


# --- which key persists which setting ---------------------------------------------------------


def _check_daemon(daemon) -> str:
    if not isinstance(daemon, str) or not _DAEMON_NAME.fullmatch(daemon):
        raise LibvirtAdminError(
            f"{daemon!r} is not the name of a libvirt daemon; give one such as libvirtd or virtqemud", ERR_INVALID_ARG
        )
    return daemon


def default_config_file(daemon: str) -> str:
    """The config file a system daemon reads: /etc/libvirt/<daemon>.conf (a
    session daemon reads $XDG_CONFIG_HOME/libvirt/<daemon>.conf instead)."""
    return f"{CONFIG_DIR}/{_check_daemon(daemon)}.conf"


def daemon_of_uri(uri) -> str:
    """The daemon an admin URI reaches: its scheme ('virtqemud:///system?socket=...'
    -> 'virtqemud'); libvirtd for None or '' (libvirt's default admin URI)."""
    if not uri:
        return DEFAULT_DAEMON
    scheme, sep, rest = str(uri).partition(":")
    daemon = scheme.split("+", 1)[0]
    if not sep or not rest.startswith("//") or not _DAEMON_NAME.fullmatch(daemon):
        raise LibvirtAdminError(
            f"cannot tell the daemon from the admin URI {uri!r}: expected one such as libvirtd:///system or "
            "virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock",
            ERR_INVALID_ARG,
        )
    return daemon


def _no_key(daemon: str, server, setting: str) -> LibvirtAdminError:
    where = f"server '{server}' of {daemon}" if server else daemon
    if daemon in SHARED_LIMIT_DAEMONS and setting in KINDS["threadpool"]:
        why = (
            f"{daemon}'s servers run without worker threads, so its config file has no worker keys; "
            "leave the thread pool settings out of what you persist"
        )
    elif daemon in SHARED_LIMIT_DAEMONS:
        key = "admin_max_clients" if server == ADMIN_SERVER else "max_clients"
        why = (
            f"{daemon}'s config file has no key of its own for it: {key} sets both max_clients and "
            f"max_unauth_clients when {daemon} starts; persist max_clients only (max_unauth_clients will "
            "then equal it after a restart), or leave it out of what you persist"
        )
    elif setting == "prio_workers":
        why = (
            "the admin server runs without priority workers (its prio_workers is always 0), so there is no "
            "admin_prio_workers key; leave prio_workers out of what you persist for the admin server"
        )
    else:
        why = (
            "the admin server takes no unauthenticated clients (its max_unauth_clients is always 0), so there "
            "is no admin key for it; leave max_unauth_clients out of what you persist for the admin server"
        )
    return LibvirtAdminError(f"{setting} of {where} cannot be persisted in its config file: {why}", ERR_INVALID_ARG)


def config_keys(daemon: str, server, kind: str, settings=None) -> dict:
    """Our setting names -> the daemon's config keys, for one kind of setting
    ('threadpool', 'clients' or 'logging') of one server ('admin', or any
    other name or None for the daemon's own server; logging is daemon-wide).

    With settings (the names to be persisted), every one of them must have a
    key on this daemon and server, or LibvirtAdminError says which has none
    and what to do; the result holds just those. Without, the result holds
    every setting of the kind that has a key (an error if none has).
    """
    _check_daemon(daemon)
    if kind not in KINDS:
        raise LibvirtAdminError(
            f"{kind!r} is not a kind of setting; use one of {', '.join(sorted(KINDS))}", ERR_INVALID_ARG
        )
    if kind == "logging":
        available = dict(_LOGGING_KEYS)
    elif daemon in SHARED_LIMIT_DAEMONS:
        available = {"max_clients": "admin_max_clients" if server == ADMIN_SERVER else "max_clients"}
    else:
        available = dict(_ADMIN_SERVER_KEYS if server == ADMIN_SERVER else _MAIN_SERVER_KEYS)
    available = {setting: key for setting, key in available.items() if setting in KINDS[kind]}
    where = None if kind == "logging" else (server or None)
    if settings is None:
        if not available:
            raise _no_key(daemon, where, KINDS[kind][0])
        return available
    chosen = {}
    for setting in settings:
        if setting not in KINDS[kind]:
            raise LibvirtAdminError(
                f"{setting!r} is not a {kind} setting; use one of {', '.join(KINDS[kind])}", ERR_INVALID_ARG
            )
        if setting not in available:
            raise _no_key(daemon, where, setting)
        chosen[setting] = available[setting]
    return chosen


def config_values(daemon: str, server, kind: str, settings: dict) -> dict:
    """Settings by our names -> the same values by config key, ready for set_values."""
    keys = config_keys(daemon, server, kind, list(settings))
    return {keys[setting]: value for setting, value in settings.items()}


# --- reading: libvirt's parser, keeping where each statement is ----------------------------------


class _Assignment:
    """One `name = value` statement and where its parts are in the text."""

    __slots__ = ("name", "name_start", "value", "value_end", "value_start")

    def __init__(self, name: str, name_start: int, value, value_start: int, value_end: int) -> None:
        self.name = name
        self.name_start = name_start
        self.value = value
        self.value_start = value_start
        self.value_end = value_end


class _Parser:
    """virconf's recursive-descent parser, over a str. Past the end, the current
    character reads as NUL, as libvirt's NUL-terminated buffer does."""

    def __init__(self, text: str, offset: int = 0) -> None:
        self.text = text
        self.end = len(text)
        self.pos = 0
        self.offset = offset  # where text starts in the document (for a comment's body)

    @property
    def cur(self) -> str:
        return self.text[self.pos] if self.pos < self.end else "\0"

    def error(self, what: str) -> LibvirtAdminError:
        line = self.text.count("\n", 0, self.pos) + 1
        return LibvirtAdminError(f"line {line}: {what}", ERR_CONF_SYNTAX)

    def skip_blanks(self) -> None:
        while self.pos < self.end and self.text[self.pos] in _BLANKS:
            self.pos += 1

    def skip_blanks_and_eol(self) -> None:
        while self.pos < self.end and self.text[self.pos] in _SPACE:
            self.pos += 1

    def skip_to_eol(self) -> None:
        while self.pos < self.end and self.text[self.pos] not in _EOL:
            self.pos += 1

    def document(self) -> tuple:
        """(assignments, comments as (start of '#', end of the line)) of a whole file."""
        assignments, comments = [], []
        while self.pos < self.end:
            self.skip_blanks_and_eol()
            if self.cur == "#":
                start = self.pos
                self.skip_to_eol()
                comments.append((start, self.pos))
            else:
                assignments.append(self.assignment())
            self.separator()
        return assignments, comments

    def assignment(self) -> _Assignment:
        self.skip_blanks()
        name_start = self.pos
        if self.cur not in _ALPHA:
            raise self.error("expecting a name")
        while self.pos < self.end and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        name = self.text[name_start : self.pos]
        self.skip_blanks()
        if self.cur != "=":
            raise self.error("expecting an assignment")
        self.pos += 1
        self.skip_blanks()
        value_start = self.pos
        value = self.value()
        value_end = self.pos
        self.skip_blanks()
        if self.cur == "#":
            self.skip_to_eol()
        return _Assignment(name, self.offset + name_start, value, self.offset + value_start, self.offset + value_end)

    def separator(self) -> None:
        self.skip_blanks()
        if self.pos >= self.end:
            return
        if self.cur in _EOL:
            self.skip_blanks_and_eol()
        elif self.cur == ";":
            self.pos += 1
            self.skip_blanks_and_eol()
        else:
            raise self.error("expecting a separator")

    def value(self):
        self.skip_blanks()
        if self.pos >= self.end:
            raise self.error("expecting a value")
        char = self.cur
        if char in "\"'":
            return self.string()
        if char == "[":
            return self.list_value()
        if char in _DIGITS + "-+":
            return self.number()
        raise self.error("expecting a value")

    def string(self) -> str:
        if self.cur == "'" or (
            self.cur == '"' and not (self.pos + 6 < self.end and self.text.startswith('"""', self.pos))
        ):
            quote = self.cur
            self.pos += 1
            base = self.pos
            while self.pos < self.end and self.text[self.pos] != quote and self.text[self.pos] not in _EOL:
                self.pos += 1
            if self.cur != quote:
                raise self.error("unterminated string")
            self.pos += 1
            return self.text[base : self.pos - 1]
        self.pos += 3
        base = self.pos
        while self.pos + 2 < self.end and not self.text.startswith('"""', self.pos):
            self.pos += 1
        if not self.text.startswith('"""', self.pos):
            raise self.error("unterminated string")
        self.pos += 3
        return self.text[base : self.pos - 3]

    def list_value(self) -> list:
        self.pos += 1
        self.skip_blanks_and_eol()
        items = []
        if self.pos < self.end and self.cur != "]":
            items.append(self.value())
            self.skip_blanks_and_eol()
        while self.pos < self.end and self.cur != "]":
            if self.cur != ",":
                raise self.error("expecting a separator in list")
            self.pos += 1
            self.skip_blanks_and_eol()
            if self.cur == "]":
                break
            items.append(self.value())
            self.skip_blanks_and_eol()
        if self.cur != "]":
            raise self.error("list is not closed with ]")
        self.pos += 1
        return items

    def number(self) -> int:
        negative = self.cur == "-"
        if self.cur in "-+":
            self.pos += 1
        start = self.pos
        while self.pos < self.end and self.text[self.pos] in _DIGITS:
            self.pos += 1
        if self.pos == start:
            raise self.error("unterminated number")
        number = int(self.text[start : self.pos])
        return -number if negative else number


def _parse(text: str) -> tuple:
    if not isinstance(text, str):
        raise LibvirtAdminError(f"the config text must be a str, got {type(text).__name__}", ERR_INVALID_ARG)
    return _Parser(text).document()


def _commented_example(text: str, start: int, end: int):
    """(start of the '#', the assignment) of a comment line that holds one
    ('#min_workers = 5', '# log_filters="..."'), or None when the comment is prose."""
    body = _Parser(text[start + 1 : end], offset=start + 1)
    try:
        assignment = body.assignment()
    except LibvirtAdminError:
        return None
    return (start, assignment) if body.pos == body.end else None


def read_values(text: str) -> dict:
    """The active keys of a config file's text, as libvirt reads them: int,
    str or list (of those); the FIRST assignment of a key is the one libvirt
    uses. Text libvirt would refuse raises LibvirtAdminError (ERR_CONF_SYNTAX)
    naming the line."""
    values: dict = {}
    for assignment in _parse(text)[0]:
        values.setdefault(assignment.name, assignment.value)
    return values


# --- writing values ------------------------------------------------------------------------------


def _bad_value(key: str, value, why: str) -> LibvirtAdminError:
    return LibvirtAdminError(f"cannot write {key} = {value!r} to a libvirt config file: {why}", ERR_INVALID_ARG)


def config_value(key: str, value):
    """The value as read_values returns it once set_values has written it:
    log_outputs/log_filters given as a list become one space-separated string."""
    if key in LOG_KEYS and isinstance(value, (list, tuple)):
        if not all(isinstance(item, str) for item in value):
            raise _bad_value(key, value, "the items of a log string must be strings")
        return " ".join(value)
    return _checked(key, value)


def _checked(key: str, value, whole=None):
    whole = value if whole is None else whole
    if isinstance(value, bool) or not isinstance(value, (int, str, list, tuple)):
        raise _bad_value(key, whole, "a value must be an integer, a string or a list of those")
    if isinstance(value, (list, tuple)):
        return [_checked(key, item, whole) for item in value]
    return value


def render_value(key: str, value) -> str:
    """A value as it is written in the file, following virConfSaveValue: an
    integer bare; a string in "..." (or '...' when it holds a double quote, or
    \"\"\"...\"\"\" when it holds both quotes or a line break: virconf has no
    escapes); a list as [ item, item ]."""
    value = config_value(key, value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[ " + ", ".join(render_value(key, item) for item in value) + " ]"
    if "\0" in value:
        raise _bad_value(key, value, "libvirt would cut the string at its NUL character")
    breaks = "\n" in value or "\r" in value
    if not breaks and '"' not in value:
        return f'"{value}"'
    if not breaks and "'" not in value:
        return f"'{value}'"
    if '"""' in value or value.endswith('"'):
        raise _bad_value(
            key,
            value,
            "libvirt's config syntax cannot hold this string (it has no escapes, and a string with both "
            "kinds of quote or a line break must not contain three double quotes in a row or end with one)",
        )
    return f'"""{value}"""'


def set_values(text: str, values: dict) -> str:
    """The text with each key of values set, changed as little as can be:

    - a key assigned already: the value of every active assignment of it is
      replaced where it stands (all the lines of a multi-line list), the name,
      spacing and a trailing comment kept; a key whose every assignment holds
      the value already is left alone, so unchanged values give back the text
      byte for byte;
    - else the first commented-out example of the key ('#min_workers = 5')
      becomes the assignment, at the same spot;
    - else `key = value` is appended at the end, on a line of its own.

    Every other line, comment and key stays exactly as it was. Text libvirt
    could not read raises LibvirtAdminError, and nothing is changed."""
    assignments, comments = _parse(text)
    examples = None
    edits, appended, expected = [], [], {}
    for key, value in values.items():
        if not isinstance(key, str) or not _KEY_NAME.fullmatch(key):
            raise LibvirtAdminError(
                f"{key!r} is not a config key: a key is a letter followed by letters, digits or _", ERR_INVALID_ARG
            )
        wanted = config_value(key, value)
        rendered = render_value(key, wanted)
        expected[key] = wanted
        active = [assignment for assignment in assignments if assignment.name == key]
        if active:
            if any(assignment.value != wanted for assignment in active):
                edits.extend((assignment.value_start, assignment.value_end, rendered) for assignment in active)
            continue
        if examples is None:
            examples = [example for example in (_commented_example(text, *span) for span in comments) if example]
        example = next(((start, found) for start, found in examples if found.name == key), None)
        if example is not None:
            start, found = example
            edits.append((start, found.value_end, text[found.name_start : found.value_start] + rendered))
        else:
            appended.append(f"{key} = {rendered}")
    result = text
    for start, end, replacement in sorted(edits, reverse=True):
        result = result[:start] + replacement + result[end:]
    if appended:
        newline = "\r\n" if "\r\n" in text else "\n"
        if result and result[-1] not in _EOL:
            result += newline
        result += "".join(line + newline for line in appended)
    reread = read_values(result)
    wrong = [key for key, wanted in expected.items() if reread.get(key) != wanted]
    if wrong:  # a bug here, not the user's: refuse to hand back a file that says something else
        raise LibvirtAdminError(f"editing the config text went wrong for {', '.join(wrong)}; nothing was written")
    return result


# --- the file ------------------------------------------------------------------------------------


def _os_error(action: str, path: str, error: OSError) -> LibvirtAdminError:
    reason = error.strerror or str(error)
    hint = ""
    if isinstance(error, PermissionError):
        hint = "; run the task as root (become: true) or as a user who may write there"
    elif error.errno == errno.EROFS:
        hint = "; the file system is read-only"
    return LibvirtAdminError(f"cannot {action} {path}: {reason}{hint}", ERR_SYSTEM_ERROR)


def backup_name(path: str) -> str:
    """<path>.<timestamp>~, as Ansible names its backups (with the pid too if that name is taken)."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S~")
    name = f"{path}.{stamp}"
    return f"{path}.{os.getpid()}.{stamp}" if os.path.lexists(name) else name


def _copy_security_context(source: str, target_fd: int) -> None:
    """Keep an SELinux label, where there is one (best effort)."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return
    with contextlib.suppress(OSError):
        os.setxattr(target_fd, "security.selinux", getxattr(source, "security.selinux"))


def write_atomically(path: str, text: str, backup: bool = False, create: bool = False):
    """Replace the file at path with text, atomically: a temporary file in the
    same directory, written and fsync'ed, given the original's mode and owner,
    renamed over the original (a symlink is followed: its target is replaced).

    Returns the backup's path when backup is true (a copy of the original made
    first), else None; None too when the file holds text already (nothing is
    written then). A missing file is an error unless create is true; it is
    then created with mode 0644, owned by the user running this. Text is
    encoded as UTF-8 (surrogateescape: text read with it goes back byte for
    byte). Failures raise LibvirtAdminError saying what to do.
    """
    target = os.path.realpath(path)
    data = text.encode("utf-8", "surrogateescape")
    try:
        status = os.stat(target)
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise _os_error("read", path, error) from None
    if status is None:
        if not create:
            raise LibvirtAdminError(
                f"the config file {path} does not exist; set create: true to create it, or check the path "
                "(is the daemon installed on this host?)",
                ERR_INVALID_ARG,
            )
        directory = os.path.dirname(target) or "."
        if not os.path.isdir(directory):
            raise LibvirtAdminError(
                f"cannot create {path}: its directory {directory} does not exist (is libvirt installed on this host?)",
                ERR_INVALID_ARG,
            )
    else:
        if not os.path.isfile(target):
            raise LibvirtAdminError(f"{path} is not a regular file; give the path of the config file", ERR_INVALID_ARG)
        try:
            with open(target, "rb") as current:
                if current.read() == data:
                    return None
        except OSError as error:
            raise _os_error("read", path, error) from None
        if not os.access(target, os.W_OK):
            raise LibvirtAdminError(
                f"cannot write {path}: permission denied; run the task as root (become: true) or as its owner",
                ERR_SYSTEM_ERROR,
            )
    saved = None
    if backup and status is not None:
        saved = backup_name(target)
        try:
            shutil.copy2(target, saved)
            if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(saved, status.st_uid, status.st_gid)
        except OSError as error:
            raise _os_error("back up", path, error) from None
    _replace(path, target, data, status)
    return saved


def _replace(path: str, target: str, data: bytes, status) -> None:
    directory = os.path.dirname(target) or "."
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as error:
        raise _os_error("write", path, error) from None
    try:
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                if status is None:
                    os.fchmod(stream.fileno(), NEW_FILE_MODE)
                else:
                    os.fchmod(stream.fileno(), status.st_mode & 0o7777)
                    if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
                        os.fchown(stream.fileno(), status.st_uid, status.st_gid)
                    _copy_security_context(target, stream.fileno())
                os.fsync(stream.fileno())
            os.rename(temporary, target)
        except OSError as error:
            raise _os_error("write", path, error) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    try:
        directory_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
