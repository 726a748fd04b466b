# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""libvirt's log output and filter strings as the daemon stores and reports them:
read them, render parsed items back, and compare them the way the daemon
rewrites what it stores, so that comparisons are idempotent. Parsing and
validating what a user writes, and the syntax of both kinds of string, are in
_logparse. Parsed items: outputs (level, type, extra or None), filters
(level, match); the daemon stores a filter's MATCH as *MATCH*.
"""

from __future__ import annotations

# The daemon's logging can be read and changed at runtime from this version on.
LOGGING_SINCE = "3.0.0"


def render_filter(parsed: tuple) -> str:
    """LEVEL:MATCH as the daemon takes it; a match that itself starts with '+' is written with the
    '+' the daemon drops ('1:++a' for the match '+a')."""
    level, match = parsed
    return f"{level}:+{match}" if match.startswith("+") else f"{level}:{match}"


def render_output(parsed: tuple) -> str:
    level, kind, extra = parsed
    return f"{level}:{kind}" if extra is None else f"{level}:{kind}:{extra}"


def stored_filter(parsed: tuple) -> tuple:
    """A filter as the daemon stores and reports it: the match wrapped in '*'."""
    return parsed[0], f"*{parsed[1]}*"


def read_filters(text: str) -> list:
    """The daemon's filter string as (level, match) the way a user writes them."""
    filters = []
    for item in text.split(" "):  # the daemon separates items with ' ' only: a tab is part of an item
        if not item:
            continue
        level, stored = item.split(":", 1)
        match = stored[1:-1] if len(stored) >= 2 and stored.startswith("*") and stored.endswith("*") else stored
        filters.append((int(level), match))
    return filters


def read_outputs(text: str) -> list:
    """The daemon's output string, parsed."""
    outputs = []
    for item in text.split(" "):  # the daemon separates items with ' ' only: a tab is part of an item
        if not item:
            continue
        fields = item.split(":", 2)
        outputs.append((int(fields[0]), fields[1], fields[2] if len(fields) > 2 else None))
    return outputs


def same_outputs(current: list, desired: list) -> bool:
    """Outputs are independent of each other: their order does not matter."""
    return sorted(current, key=render_output) == sorted(desired, key=render_output)


def read(conn) -> dict:
    """{"outputs": [...], "filters": [...]} parsed, filters as a user writes them."""
    return {
        "outputs": read_outputs(conn.get_logging_outputs()),
        "filters": read_filters(conn.get_logging_filters()),
    }


def rendered(state: dict) -> dict:
    """The state as lists of strings, as the module returns it."""
    return {
        "outputs": [render_output(item) for item in state["outputs"]],
        "filters": [render_filter(item) for item in state["filters"]],
    }
