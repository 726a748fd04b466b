# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The one sequence every module that changes a daemon runs, over parts.

A part is one kind of state of one server (its thread pool, its client limits, its clients to
disconnect) or of the daemon (its logging): it reads the state, validates the desired settings
merged over it, finds what differs, predicts the state after (check mode) or applies the
difference and reads it back, puts it back when a later part fails, and names what it persists.

run(module, parts) does, once and in this order: connect; check the daemon's version for every
part; find each part's server; plan the config file edit (persist); read, validate and compare
every part, so that nothing changes unless everything is valid; then, behind the one check-mode
guard, apply the parts that differ in order (putting back those applied if one fails) and read
every part back; write the config file; and build changed and the diff. Check mode and a real run
make the same comparison.
"""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _persist
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import resolve_server


def changes_between(current: dict, desired: dict) -> dict:
    """The desired settings whose value differs from the current one."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def described(key: str, merged: dict, desired: dict) -> str:
    """A merged setting for an error message, saying where its value came from."""
    source = "" if key in desired else ", the server's current value"
    return f"{key} ({merged[key]}{source})"


def read_back(read, *args):
    """read(*args) after a change was applied: a failure then says that the change itself went through."""
    try:
        return read(*args)
    except LibvirtAdminError as error:
        raise LibvirtAdminError(
            f"the change was applied at runtime, but reading it back failed: {error.message}", error.code
        ) from error


class Part:
    """One kind of state. Subclasses set what (its name in messages) and kind, and implement read,
    validate, apply; the rest has defaults that fit settings compared key by key."""

    what = ""
    kind = ""
    # (version, feature, what to do on an older daemon) when the daemon needs a newer libvirt than 2.0.0
    since = None
    # whether the part belongs to a server (resolved by run: None is the daemon's own server)
    on_server = True
    # whether undo() can put it back (else undo_note() says what was done)
    undoable = True

    def __init__(self, desired: dict, server: str | None = None, path: tuple = ()) -> None:
        self.desired = desired  # the settings as the user gave them (parsed)
        self.server = server
        self.path = path  # where the part's keys go in the diff: () for the top, ("servers", name), ...
        self.before: dict = {}
        self.changes: dict = {}
        self.after: dict = {}

    @property
    def label(self) -> str:
        return self.what if not self.on_server else f"{self.what} of server '{self.server}'"

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def read(self, conn) -> dict:
        raise NotImplementedError

    def validate(self, current: dict) -> None:
        """Raise LibvirtAdminError when the desired settings merged over current are not valid."""

    @property
    def reading(self) -> str:
        """What read() does, for a message: "read the thread pool of"."""
        return f"read the {self.what} of"

    @property
    def changing(self) -> str:
        """What apply() does, for a message: "change the thread pool of"."""
        return f"change the {self.what} of"

    def find_changes(self) -> dict:
        """What differs between before and the desired settings."""
        return changes_between(self.before, self.desired)

    def predict(self) -> dict:
        """The state after the changes, without making them (check mode)."""
        return {**self.before, **self.changes}

    def apply(self, conn) -> None:
        """Make the changes (putting back its own half-made change when the daemon fails part-way)."""
        raise NotImplementedError

    def reread(self, conn) -> dict:
        return read_back(self.read, conn)

    def undo(self, conn) -> None:
        """Set the changed settings back to their values before apply."""
        raise NotImplementedError

    def shown(self, state: dict) -> dict:
        """The managed settings of a state, as the diff shows them."""
        return {key: state.get(key) for key in self.desired}

    def intended(self) -> dict:
        """The state asked for, as the diff's after shows it."""
        return {**self.before, **self.desired}

    def persisted(self):
        """(server, kind, settings) for the config file, or None for a part with nothing to persist."""
        return self.server, self.kind, self.desired


def _nested(target: dict, path: tuple) -> dict:
    for key in path:
        target = target.setdefault(key, {})
    return target


def diff(parts: list, config) -> dict:
    """Ansible's before/after over every part's managed keys (and the config file's, under "config_file")."""
    before, after = {}, {}
    for part in parts:
        _nested(before, part.path).update(part.shown(part.before))
        _nested(after, part.path).update(part.shown(part.intended()))
    if config is not None:
        before["config_file"], after["config_file"] = config.diff_part()
    return {"before": before, "after": after}


def _apply_all(module, conn, parts: list, note: str | None) -> None:
    """Apply every part that has changes, in order. If one fails, the parts applied before it are
    set back, and the task fails saying what happened."""
    done = []
    for part in parts:
        if not part.changes:
            continue
        try:
            part.apply(conn)
        except LibvirtAdminError as error:
            if not done:
                if note:
                    error = LibvirtAdminError(f"{error.message} ({note})", error.code)
                module.fail_admin(part.changing, error, part.server if part.on_server else None)
            module.fail_admin("set the state of", _undo(conn, done, part, error, note))
        done.append(part)


def _undo(conn, done: list, failed: Part, error: LibvirtAdminError, note: str | None) -> LibvirtAdminError:
    message = f"changing the {failed.label} failed: {error.message}"
    undone = [part for part in done if part.undoable]
    kept = [part for part in done if not part.undoable]
    if kept:
        message += "; " + "; ".join(f"{part.undo_note()}, which cannot be undone" for part in kept)
    if undone:
        labels = ", ".join(part.label for part in undone)
        try:
            for part in reversed(undone):
                part.undo(conn)
        except LibvirtAdminError as undo_error:
            return LibvirtAdminError(
                f"{message}; the {labels} had been changed already, and putting them back failed too: "
                f"{undo_error.message}; check the daemon with libvirt_admin_server_info",
                error.code,
            )
        message += f"; the {labels} had been changed already and were put back"
    if note:
        message += f" ({note})"
    return LibvirtAdminError(message, error.code)


def run(module, parts: list, finish=None) -> dict:
    """The sequence (see the module docstring) over parts, on one connection. finish(conn), if given,
    is called on the open connection at the end and returns extra result keys. Returns the result
    keys that do not depend on the module: changed, config_file, backup_file, diff; each part's
    after then holds its state (read back, or predicted in check mode)."""
    params = module.params
    with module.connection() as conn:
        for since in sorted({part.since for part in parts if part.since}):
            module.require_daemon_version(conn, *since)
        with module.failing_as("find the server on"):
            names = conn.list_servers()
            for part in parts:
                if part.on_server:
                    part.server = resolve_server(names, part.server)
        with module.failing_as("plan the config file edit for"):
            config = _persist.plan(params, module.uri, [item for item in (part.persisted() for part in parts) if item])
        for part in parts:
            server = part.server if part.on_server else None
            with module.failing_as(part.reading, server):
                part.before = part.read(conn)
            with module.failing_as(part.changing, server):
                part.validate(part.before)
                part.changes = part.find_changes()
        runtime = any(part.changes for part in parts)
        note = "the config file was not changed" if config is not None and config.changed else None
        for part in parts:
            part.after = part.predict()
        if runtime and not module.check_mode:
            _apply_all(module, conn, parts, note)
            for part in parts:
                server = part.server if part.on_server else None
                with module.failing_as(part.reading, server, note):
                    part.after = part.reread(conn)
        result = finish(conn) if finish else {}
        runtime = any(part.changed for part in parts)
        if config is not None:
            result["config_file"] = config.path
            if config.changed and not module.check_mode:
                note = "the runtime change was applied; the config file was not changed" if runtime else None
                with module.failing_as("write the config file for", None, note):
                    backup = _persist.write(config, params, module.timeout)
                if backup:
                    result["backup_file"] = backup
    result["changed"] = runtime or (config is not None and config.changed)
    if module._diff:
        result["diff"] = diff(parts, config)
    return result
