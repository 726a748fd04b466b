# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""libvirt's log output and filter strings as a user writes them: parse and
validate them with the daemon's rules (src/util/virlog.c), and normalise file
paths as the daemon does. Only the modules that change logging import this.

Outputs: LEVEL:stderr, LEVEL:journald, LEVEL:syslog:IDENT, LEVEL:file:PATH.
Filters: LEVEL:MATCH; a leading + on MATCH is accepted and dropped; the
daemon stores MATCH as *MATCH* (a substring match). Levels: 1 debug,
2 info, 3 warning, 4 error. Items are separated by spaces.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_INVALID_ARG, LibvirtAdminError

# output type -> its extra field, if any
OUTPUT_TYPES = {"stderr": None, "journald": None, "syslog": "IDENT", "file": "PATH"}
_LEVEL_HELP = "1 (debug), 2 (info), 3 (warning) or 4 (error)"
# The daemon reads the level with strtoul: a leading + and leading zeros pass.
_LEVEL = re.compile(r"\+?0*([1-4])")


def _bad(kind: str, index: int, item, why: str) -> LibvirtAdminError:
    return LibvirtAdminError(f"{kind}[{index}] {item!r} is not a valid log {kind[:-1]}: {why}", ERR_INVALID_ARG)


def _split(kind: str, index: int, item) -> list:
    if not isinstance(item, str):
        raise _bad(kind, index, item, f"it must be a string like {'3:stderr' if kind == 'outputs' else '1:qemu'}")
    if not item or any(char.isspace() for char in item):
        raise _bad(kind, index, item, "it must be one item, with no spaces (give each item separately in the list)")
    if "\x00" in item:
        raise _bad(kind, index, item, "it must not contain a NUL character (libvirt would cut the string there)")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(kind, index, item, "it must be text that can be sent as UTF-8 (no lone surrogates)") from None
    fields = item.split(":")
    level = _LEVEL.fullmatch(fields[0])
    if not level:
        raise _bad(kind, index, item, f"it must start with a level, {_LEVEL_HELP}, then ':'; got {fields[0]!r}")
    fields[0] = level.group(1)
    return fields


def parse_filter(item, index: int = 0) -> tuple:
    """(level, match) of a filter as the user writes it ('+' dropped)."""
    fields = _split("filters", index, item)
    if len(fields) != 2:
        raise _bad("filters", index, item, "the form is LEVEL:MATCH, with exactly one ':'")
    match = fields[1][1:] if fields[1].startswith("+") else fields[1]
    if not match:
        raise _bad("filters", index, item, "the match after the level is empty")
    return int(fields[0]), match


def parse_output(item, index: int = 0) -> tuple:
    """(level, type, extra or None) of an output; file paths normalised as the daemon does."""
    fields = _split("outputs", index, item)
    if len(fields) < 2 or fields[1] not in OUTPUT_TYPES:
        got = repr(fields[1]) if len(fields) > 1 else "nothing"
        raise _bad(
            "outputs",
            index,
            item,
            f"the output type must be stderr, journald, syslog:IDENT or file:PATH; got {got}",
        )
    kind, extra_name = fields[1], OUTPUT_TYPES[fields[1]]
    if extra_name is None:
        if len(fields) != 2:
            raise _bad("outputs", index, item, f"{kind} takes nothing after it: LEVEL:{kind}")
        return int(fields[0]), kind, None
    if len(fields) != 3 or not fields[2]:
        raise _bad("outputs", index, item, f"{kind} needs one field after it, with no ':': LEVEL:{kind}:{extra_name}")
    extra = fields[2]
    if kind == "file":
        if not extra.startswith("/"):
            raise _bad("outputs", index, item, "the file path must be absolute (start with /)")
        extra = posixpath.normpath(extra)
    return int(fields[0]), kind, extra


def parse_filters(items: list) -> list:
    return [parse_filter(item, index) for index, item in enumerate(items)]


def parse_outputs(items: list) -> list:
    """Parsed outputs; a second output to the same destination is an error
    (the daemon would silently keep only the last)."""
    parsed = [parse_output(item, index) for index, item in enumerate(items)]
    seen: dict = {}
    for index, output in enumerate(parsed):
        destination = output[1:]
        if destination in seen:
            raise _bad(
                "outputs",
                index,
                items[index],
                f"it logs to the same destination as outputs[{seen[destination]}]; "
                "the daemon would keep only one of them, so give one level per destination",
            )
        seen[destination] = index
    return parsed
