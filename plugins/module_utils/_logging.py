# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A daemon's logging at runtime: read it, compare it with a desired state in
normalised form, and change outputs and filters together or not at all."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logparse
from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logstrings as logstrings
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import ERR_INVALID_ARG, LibvirtAdminError

# read and rendered live in _logstrings, which server_info imports alone; the rest use them from here.
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._logstrings import read, rendered
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import read_back

LOGGING_SINCE = logstrings.LOGGING_SINCE
# For AdminModule.require_daemon_version: the feature, and what to do on an older daemon.
RUNTIME_LOGGING = (
    "Changing logging at runtime",
    "upgrade libvirt there, or set log_outputs and log_filters in its config file",
)


EMPTY_OUTPUTS = (
    "outputs must not be empty: given no outputs, the daemon falls back to a default of its own, which is "
    'never what was asked for; list the outputs you want, for example ["3:file:/var/log/libvirt/libvirtd.log"] '
    'or ["3:journald"], or leave outputs out to keep the current ones'
)


def desired(outputs: list | None, filters: list | None) -> dict:
    """The desired state of the parts given (None: left as it is), parsed;
    LibvirtAdminError naming a bad item, or for an empty list of outputs."""
    state = {}
    if outputs is not None:
        if not outputs:
            raise LibvirtAdminError(EMPTY_OUTPUTS, ERR_INVALID_ARG)
        state["outputs"] = _logparse.parse_outputs(outputs)
    if filters is not None:
        state["filters"] = _logparse.parse_filters(filters)
    return state


def rendered_parts(state: dict) -> dict:
    """Only the parts present in state (desired settings), as lists of strings."""
    return {part: rendered({"outputs": [], "filters": [], **state})[part] for part in state}


def changes(current: dict, desired: dict) -> dict:
    """The parts of desired (parsed) that differ from current. Filter order
    matters (the first match wins); output order does not."""
    changed = {}
    if "filters" in desired and [logstrings.stored_filter(item) for item in desired["filters"]] != [
        logstrings.stored_filter(item) for item in current["filters"]
    ]:
        changed["filters"] = desired["filters"]
    if "outputs" in desired and not logstrings.same_outputs(current["outputs"], desired["outputs"]):
        changed["outputs"] = desired["outputs"]
    return changed


def _send(conn, part: str, items: list) -> None:
    if part == "filters":
        conn.set_logging_filters(" ".join(logstrings.render_filter(item) for item in items))
    else:
        conn.set_logging_outputs(" ".join(logstrings.render_output(item) for item in items))


def apply(conn, current: dict, changed: dict) -> dict:
    """Send the changes (filters first, then outputs) and read back. If the
    second part fails, the first is put back and the error says so."""
    done = []
    for part in ("filters", "outputs"):
        if part not in changed:
            continue
        try:
            _send(conn, part, changed[part])
        except LibvirtAdminError as error:
            raise _restore(conn, current, done, part, error) from error
        done.append(part)
    return read_back(read, conn)


def _restore(conn, current: dict, done: list, failed: str, error: LibvirtAdminError) -> LibvirtAdminError:
    if not done:
        return LibvirtAdminError(f"setting the {failed} failed: {error.message} (nothing was changed)", error.code)
    try:
        for part in done:
            _send(conn, part, current[part])
    except LibvirtAdminError as restore_error:
        return LibvirtAdminError(
            f"setting the {failed} failed: {error.message}; the {' and '.join(done)} had been changed already, and "
            f"putting them back failed too: {restore_error.message}",
            error.code,
        )
    return LibvirtAdminError(
        f"setting the {failed} failed: {error.message}; the {' and '.join(done)} had been changed already and "
        "were put back, so nothing was changed",
        error.code,
    )
