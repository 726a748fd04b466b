# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""persist: the managed settings written to the daemon's config file too, as
ansible.posix.sysctl does with its file. The file part is planned (read,
validated, edited in memory) before anything changes at runtime, and is
idempotent on its own: a file already right is not rewritten."""

from __future__ import annotations

import os

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _config
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import diff

PERSIST_ARGSPEC = {
    "persist": {"type": "bool", "default": False},
    "config_file": {"type": "path"},
    "backup": {"type": "bool", "default": False},
    "create": {"type": "bool", "default": False},
}


class ConfigPlan:
    """The edit of one config file: its text now and after, and the keys managed."""

    def __init__(self, path: str, before: str, after: str, values: dict, exists: bool) -> None:
        self.path = path
        self.before = before
        self.after = after
        self.values = values  # config key -> value as the file will hold it
        self.exists = exists

    @property
    def changed(self) -> bool:
        return self.before != self.after or not self.exists

    def diff_part(self) -> tuple:
        """(before, after) of the managed keys, for the module's diff."""
        current = _config.read_values(self.before) if self.before.strip() else {}
        before = {key: current.get(key) for key in self.values}
        after = {key: _config.config_value(key, value) for key, value in self.values.items()}
        return before, after


def file_changes(config: ConfigPlan | None) -> bool:
    """Whether there is a config file edit to make (False without persist)."""
    return config is not None and config.changed


def untouched_note(config: ConfigPlan | None) -> str | None:
    """What a failure before the file write leaves the file as, for the error message."""
    return "the config file was not changed" if file_changes(config) else None


def plan(params: dict, uri: str | None, parts) -> ConfigPlan | None:
    """The config file edit for parts, (server, kind, settings) tuples (server
    None: the daemon's own server or, for logging, the daemon), as one edit of
    one file; None without persist.
    Raises LibvirtAdminError (before anything changed) for a daemon or server
    that has no key for a setting, a missing file without create, an
    unreadable or unwritable file, or a file libvirt could not parse."""
    if not params["persist"]:
        return None
    daemon = _config.daemon_of_uri(uri)
    values = {}
    for server, kind, settings in parts:
        values.update(_config.config_values(daemon, server, kind, settings))
    path = params["config_file"] or _config.default_config_file(daemon)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            before, exists = handle.read(), True
    except FileNotFoundError:
        if not params["create"]:
            raise LibvirtAdminError(
                f"the config file {path} does not exist; set create: true to create it, or give config_file "
                f"(the default is /etc/libvirt/<daemon>.conf, here for {daemon})"
            ) from None
        before, exists = "", False
    except OSError as error:
        raise LibvirtAdminError(f"cannot read the config file {path}: {error.strerror}; use become: true") from None
    folder = os.path.dirname(os.path.realpath(path)) or "."
    if not os.access(folder, os.W_OK) or (exists and not os.access(path, os.W_OK)):
        raise LibvirtAdminError(
            f"cannot write the config file {path} (no permission): run the task with become: true, "
            "or give a config_file you may write"
        )
    after = _config.set_values(before, values) if before.strip() else _config.set_values("", values)
    return ConfigPlan(path, before, after, values, exists)


def write(config: ConfigPlan, params: dict) -> str | None:
    """Write the planned file; returns the backup's path, if one was made."""
    return _config.write_atomically(config.path, config.after, backup=params["backup"], create=params["create"])


def diff_with_config(before: dict, after: dict, keys: list, config: ConfigPlan | None) -> dict:
    """The module's diff over keys, plus the config file's managed keys under "config_file" when persisting."""
    if config is not None:
        file_before, file_after = config.diff_part()
        before, after, keys = (
            {**before, "config_file": file_before},
            {**after, "config_file": file_after},
            [*keys, "config_file"],
        )
    return diff(before, after, keys)


def write_config(module, config: ConfigPlan | None, runtime_changed: bool, server: str | None = None) -> dict:
    """After the runtime part: write the planned config file (not in check
    mode) and return the result keys for it (none without persist)."""
    if config is None:
        return {}
    result = {"config_file": config.path}
    if file_changes(config) and not module.check_mode:
        note = "the runtime change was applied; the config file was not changed" if runtime_changed else None
        with module.failing_as("write the config file for", server, note):
            backup = write(config, module.params)
        if backup:
            result["backup_file"] = backup
    return result
