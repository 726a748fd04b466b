# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""libvirt's config file syntax (virconf, src/util/virconf.c), mirrored here rule for rule: read the
values of a config file's text as libvirt does, and edit that text with the smallest change. Pure
functions over str: the file itself is read and written by _conffile.

`name = value` statements are separated by a line end or ';'; a name is an ASCII letter then
letters, digits or '_'; a value is an integer (optional sign), a string in "...", '...' or
\"\"\"...\"\"\" (no escape sequences of any kind: a string simply runs to its closing quote, and only
the triple-quoted form may span lines), or a list `[ value, value ]` that may span lines and take a
trailing comma; '#' starts a comment, on a line of its own or after a value (not inside a list). A
file of nothing but blanks is an error to libvirt, an empty file is not.

When a key is assigned more than once, libvirt uses the FIRST assignment (virConfGetValue returns
the first entry of that name; seen on libvirt 9.0), and read_values reports that one. set_values
rewrites every active assignment of a key it changes, so that the file says one thing whatever a
reader picks.
"""

from __future__ import annotations

import re

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_CONF_SYNTAX,
    ERR_INVALID_ARG,
    FROM_CONF,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import LOGGING_KEYS

# libvirt reads a config file of at most this size (MAX_CONFIG_FILE_SIZE in src/util/virconf.c).
MAX_CONFIG_BYTES = 10 * 1024 * 1024
# Config keys whose value is one string of space-separated items, which we also take as a list.
LOG_KEYS = tuple(LOGGING_KEYS.values())

_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BLANKS = " \t"
_EOL = "\n\r"
_SPACE = _BLANKS + _EOL
_DIGITS = "0123456789"
_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS = _ALPHA + _DIGITS + "_"


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

    def __init__(self, text: str, offset: int = 0, source: str | None = None) -> None:
        self.text = text
        self.end = len(text)
        self.pos = 0
        self.offset = offset  # where text starts in the document (for a comment's body)
        self.source = source  # the file's name, for libvirt's own wording of an error

    @property
    def cur(self) -> str:
        return self.text[self.pos] if self.pos < self.end else "\0"

    def error(self, what: str) -> LibvirtAdminError:
        line = self.text.count("\n", 0, self.pos) + 1
        if self.source is not None:
            return LibvirtAdminError(
                f"configuration file syntax error: {self.source}:{line}: {what}", ERR_CONF_SYNTAX, FROM_CONF
            )
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


def _parse(text: str, source: str | None = None) -> tuple:
    if not isinstance(text, str):
        raise LibvirtAdminError(f"the config text must be a str, got {type(text).__name__}", ERR_INVALID_ARG)
    return _Parser(text, source=source).document()


def _commented_example(text: str, start: int, end: int):
    """(start of the '#', the assignment) of a comment line that holds one
    ('#min_workers = 5', '# log_filters="..."'), or None when the comment is prose."""
    body = _Parser(text[start + 1 : end], offset=start + 1)
    try:
        assignment = body.assignment()
    except LibvirtAdminError:
        return None
    return (start, assignment) if body.pos == body.end else None


def read_values(text: str, source: str | None = None) -> dict:
    """The active keys of a config file's text, as libvirt reads them: int,
    str or list (of those); the FIRST assignment of a key is the one libvirt
    uses. Text libvirt would refuse raises LibvirtAdminError (ERR_CONF_SYNTAX)
    naming the line (and, given the file's name as source, worded as libvirt
    words it: "configuration file syntax error: FILE:LINE: ...")."""
    values: dict = {}
    for assignment in _parse(text, source)[0]:
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
