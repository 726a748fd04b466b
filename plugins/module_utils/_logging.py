# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A daemon's logging as a part of the pipeline: compare it with a desired state in normalised
form, and change outputs and filters together or not at all."""

from __future__ import annotations

import os
import stat

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logparse, _logstrings
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_INVALID_ARG, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import Part
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import LOGGING

# For AdminModule.require_daemon_version: the version, the feature, and what to do on an older daemon.
RUNTIME_LOGGING = (
    _logstrings.LOGGING_SINCE,
    "Changing logging at runtime",
    "upgrade libvirt there, or set log_outputs and log_filters in its config file",
)

# The options of the modules that set logging (libvirt_admin_logging; libvirt_admin_daemon's logging).
LOGGING_ARGSPEC = {
    "outputs": {"type": "list", "elements": "raw"},
    "filters": {"type": "list", "elements": "raw"},
    "unsafe_outputs": {"type": "bool", "default": False},
}

# A file output never goes into these (nor any top-level folder whose name starts with "lib").
SYSTEM_DIRECTORIES = ("/etc", "/usr", "/boot", "/bin", "/sbin", "/proc", "/sys", "/dev")
# An existing file there is taken to be a log.
LOG_DIRECTORIES = ("/var/log",)
UNSAFE_OPTION = "unsafe_outputs: true"

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


def _system_directory(path: str) -> str | None:
    top = "/" + path.lstrip("/").split("/", 1)[0]
    if top in SYSTEM_DIRECTORIES or top.startswith("/lib"):
        return top
    return None


def _under(path: str, folders) -> bool:
    return any(path == folder or path.startswith(folder + "/") for folder in folders)


def file_output_problem(path: str, current_files) -> str | None:
    """Why the daemon should not write its log to path (as this host sees it), or None.

    One of the daemon's current file outputs (current_files) is fine. Else: never into a system
    directory; never into an existing file that is not a regular file; into an existing regular file
    only when it is a log already: a name ending in .log, or a file under a log directory. Symlinks
    are followed."""
    real = os.path.realpath(path)
    if path in current_files:
        return None  # the daemon writes there already
    for candidate in dict.fromkeys((path, real)):
        top = _system_directory(candidate)
        if top is not None:
            where = path if candidate == path else f"{path} (which leads to {real})"
            return f"the daemon would write its log into {where}, under the system directory {top}"
    try:
        status = os.stat(real)
    except OSError:
        return None  # the daemon creates it
    if not stat.S_ISREG(status.st_mode):
        return f"{path} exists and is not a regular file: the daemon would write its log into it"
    if real in current_files or real.endswith(".log") or _under(real, LOG_DIRECTORIES):
        return None
    return (
        f"{path} exists and is no log (not one of the daemon's outputs now, not named *.log, not under "
        f"{', '.join(LOG_DIRECTORIES)}): the daemon would append its log to it"
    )


def check_file_outputs(desired: dict, current: dict) -> None:
    """LibvirtAdminError for the first file output of desired that file_output_problem refuses."""
    current_files = {extra for level, kind, extra in current["outputs"] if kind == "file"}
    for index, (level, kind, extra) in enumerate(desired.get("outputs", [])):
        if kind != "file":
            continue
        problem = file_output_problem(extra, current_files)
        if problem:
            raise LibvirtAdminError(
                f"outputs[{index}] {_logstrings.render_output((level, kind, extra))!r}: {problem}; give a log file "
                f"such as /var/log/libvirt/<name>.log, or set {UNSAFE_OPTION} if you mean it",
                ERR_INVALID_ARG,
            )


def rendered_parts(state: dict) -> dict:
    """Only the parts present in state (desired settings), as lists of strings."""
    return {part: _logstrings.rendered({"outputs": [], "filters": [], **state})[part] for part in state}


def changes(current: dict, desired: dict) -> dict:
    """The parts of desired (parsed) that differ from current. Filter order
    matters (the first match wins); output order does not."""
    changed = {}
    if "filters" in desired and [_logstrings.stored_filter(item) for item in desired["filters"]] != [
        _logstrings.stored_filter(item) for item in current["filters"]
    ]:
        changed["filters"] = desired["filters"]
    if "outputs" in desired and not _logstrings.same_outputs(current["outputs"], desired["outputs"]):
        changed["outputs"] = desired["outputs"]
    return changed


def _send(conn, part: str, items: list) -> None:
    if part == "filters":
        conn.set_logging_filters(" ".join(_logstrings.render_filter(item) for item in items))
    else:
        conn.set_logging_outputs(" ".join(_logstrings.render_output(item) for item in items))


def apply(conn, current: dict, changed: dict) -> None:
    """Send the changes (filters first, then outputs). If the second part fails, the first is put
    back and the error says so."""
    done = []
    for part in ("filters", "outputs"):
        if part not in changed:
            continue
        try:
            _send(conn, part, changed[part])
        except LibvirtAdminError as error:
            raise _restore(conn, current, done, part, error) from error
        done.append(part)


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


class LoggingPart(Part):
    """The daemon's log outputs and filters (desired parsed, see desired()); unsafe: file outputs
    are not checked (see file_output_problem)."""

    what = "logging"
    kind = LOGGING
    since = RUNTIME_LOGGING
    on_server = False

    def __init__(self, desired: dict, path: tuple = (), unsafe: bool = False) -> None:
        super().__init__(desired, path=path)
        self.unsafe = unsafe

    def validate(self, current: dict) -> None:
        if not self.unsafe:
            check_file_outputs(self.desired, current)

    @property
    def changing(self) -> str:
        return "set the logging of"

    def read(self, conn) -> dict:
        return _logstrings.read(conn)

    def find_changes(self) -> dict:
        return changes(self.before, self.desired)

    def apply(self, conn) -> None:
        apply(conn, self.before, self.changes)

    def undo(self, conn) -> None:
        apply(conn, self.after, {part: self.before[part] for part in self.changes})

    def shown(self, state: dict) -> dict:
        return {key: value for key, value in _logstrings.rendered(state).items() if key in self.desired}

    def persisted(self):
        return None, LOGGING, rendered_parts(self.desired)
