# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""persist: the managed settings written to the daemon's config file too, as ansible.posix.sysctl
does with its file. The edit is planned (the file read, checked, edited in memory) before anything
changes at runtime, and is idempotent on its own: a file already right is not rewritten. It is
made under the directory's lock, on the file's text as it is then, so that edits of other keys
made meanwhile are kept. The file's syntax and I/O (_confsyntax, _conffile) are imported only when
a task persists: each import costs every task time on the host."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    DAEMON_NAME,
    ERR_CONF_SYNTAX,
    ERR_INVALID_ARG,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import (
    CLIENTS,
    LOGGING,
    LOGGING_KEYS,
    SETTINGS,
    SHARED_LIMIT_DAEMONS,
    THREADPOOL,
    names,
)

PERSIST_ARGSPEC = {
    "persist": {"type": "bool", "default": False},
    "config_file": {"type": "path"},
    "backup": {"type": "bool", "default": False},
    "create": {"type": "bool", "default": False},
}

CONFIG_DIR = "/etc/libvirt"
DEFAULT_DAEMON = "libvirtd"
# Settings of the admin server that, at 0, would leave a restarted daemon with an admin socket that
# answers no one: no admin client would be let in, or no worker would serve it.
ADMIN_LIFELINES = ("max_clients", "max_workers")


def check_daemon(daemon) -> str:
    """daemon, when it is the name of a libvirt daemon; else LibvirtAdminError."""
    if not isinstance(daemon, str) or not DAEMON_NAME.fullmatch(daemon):
        raise LibvirtAdminError(
            f"{daemon!r} is not the name of a libvirt daemon; give one such as libvirtd or virtqemud", ERR_INVALID_ARG
        )
    return daemon


def _no_key(daemon: str, server, setting: str) -> LibvirtAdminError:
    where = f"server '{server}' of {daemon}" if server else daemon
    if daemon in SHARED_LIMIT_DAEMONS and setting in names(THREADPOOL):
        why = (
            f"{daemon}'s servers run without worker threads, so its config file has no worker keys; "
            "leave the thread pool settings out of what you persist"
        )
    elif daemon in SHARED_LIMIT_DAEMONS:
        key = SETTINGS["max_clients"].admin_key if server == ADMIN_SERVER else SETTINGS["max_clients"].main_key
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


def _available_keys(daemon: str, server, kind: str) -> dict:
    if kind == LOGGING:
        return dict(LOGGING_KEYS)
    admin = server == ADMIN_SERVER
    if daemon in SHARED_LIMIT_DAEMONS:
        if kind != CLIENTS:
            return {}
        setting = SETTINGS["max_clients"]
        return {"max_clients": setting.admin_key if admin else setting.main_key}
    keys = {name: SETTINGS[name].admin_key if admin else SETTINGS[name].main_key for name in names(kind)}
    return {name: key for name, key in keys.items() if key is not None}


def config_keys(daemon: str, server, kind: str, settings=None) -> dict:
    """Our setting names -> the daemon's config keys, for one kind of setting (THREADPOOL, CLIENTS or
    LOGGING) of one server ('admin', or any other name or None for the daemon's own server; logging is
    daemon-wide).

    With settings (the names to be persisted), every one of them must have a key on this daemon and
    server, or LibvirtAdminError says which has none and what to do; the result holds just those.
    Without, the result holds every setting of the kind that has a key (an error if none has)."""
    if kind not in (THREADPOOL, CLIENTS, LOGGING):
        raise LibvirtAdminError(
            f"{kind!r} is not a kind of setting; use one of {', '.join(sorted((CLIENTS, LOGGING, THREADPOOL)))}",
            ERR_INVALID_ARG,
        )
    available = _available_keys(check_daemon(daemon), server, kind)
    where = None if kind == LOGGING else (server or None)
    if settings is None:
        if not available:
            raise _no_key(daemon, where, names(kind)[0])
        return available
    chosen = {}
    for setting in settings:
        if setting not in names(kind):
            raise LibvirtAdminError(
                f"{setting!r} is not a {kind} setting; use one of {', '.join(names(kind))}", ERR_INVALID_ARG
            )
        if setting not in available:
            raise _no_key(daemon, where, setting)
        chosen[setting] = available[setting]
    return chosen


def default_config_file(daemon: str) -> str:
    """The config file a system daemon reads: /etc/libvirt/<daemon>.conf (a session daemon reads
    $XDG_CONFIG_HOME/libvirt/<daemon>.conf instead)."""
    return f"{CONFIG_DIR}/{check_daemon(daemon)}.conf"


def daemon_of_uri(uri) -> str:
    """The daemon an admin URI reaches: its scheme ('virtqemud:///system?socket=...' -> 'virtqemud');
    libvirtd for None or '' (libvirt's default admin URI)."""
    if not uri:
        return DEFAULT_DAEMON
    scheme, sep, rest = str(uri).partition(":")
    daemon = scheme.split("+", 1)[0]
    if not sep or not rest.startswith("//") or not DAEMON_NAME.fullmatch(daemon):
        raise LibvirtAdminError(
            f"cannot tell the daemon from the admin URI {uri!r}: expected one such as libvirtd:///system or "
            "virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock",
            ERR_INVALID_ARG,
        )
    return daemon


def config_values(daemon: str, server, kind: str, settings: dict) -> dict:
    """Settings by our names -> the same values by config key, ready for _confsyntax.set_values."""
    keys = config_keys(check_daemon(daemon), server, kind, list(settings))
    if server == ADMIN_SERVER:
        for setting in ADMIN_LIFELINES:
            if settings.get(setting) == 0:
                raise LibvirtAdminError(
                    f"{SETTINGS[setting].admin_key} = 0 would leave the daemon, once restarted, with an admin "
                    f"server that {'lets no admin client in' if setting == 'max_clients' else 'has no worker'}: "
                    f"no virt-admin and no task of this collection could reach it again; keep {setting} of the "
                    "admin server at 1 or more",
                    ERR_INVALID_ARG,
                )
    return {keys[setting]: value for setting, value in settings.items()}


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
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _confsyntax

        current = _confsyntax.read_values(self.before) if self.before.strip() else {}
        before = {key: current.get(key) for key in self.values}
        after = {key: _confsyntax.config_value(key, value) for key, value in self.values.items()}
        return before, after


def _edited(path: str, text: str, values: dict) -> str:
    """text with values set, or LibvirtAdminError naming the file when libvirt could not read it."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _confsyntax

    try:
        return _confsyntax.set_values(text, values)
    except LibvirtAdminError as error:
        if error.code != ERR_CONF_SYNTAX:
            raise
        raise LibvirtAdminError(
            f"the config file {path} is not valid libvirt config syntax ({error.message}), so the daemon could "
            "not start with it either; fix the file, or give the config_file the daemon reads",
            error.code,
        ) from None


def plan(params: dict, uri: str | None, parts) -> ConfigPlan | None:
    """The config file edit for parts, (server, kind, settings) tuples (server None: the daemon's own
    server or, for logging, the daemon), as one edit of one file; None without persist. Raises
    LibvirtAdminError (before anything changed) for a daemon or server that has no key for a
    setting, an admin server setting that would lock every admin client out after a restart, a
    missing file without create, a file that is not a regular file, unreadable or unwritable, or a
    file libvirt could not parse."""
    if not params["persist"]:
        return None
    daemon = daemon_of_uri(uri)
    values = {}
    for server, kind, settings in parts:
        values.update(config_values(daemon, server, kind, settings))
    path = params["config_file"] or default_config_file(daemon)
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _conffile

    before = _conffile.read(path)
    exists = before is not None
    if not exists and not params["create"]:
        raise LibvirtAdminError(
            f"the config file {path} does not exist; set create: true to create it, or give config_file "
            f"(the default is /etc/libvirt/<daemon>.conf, here for {daemon}; a daemon in a container reads the "
            "file its container is given, such as kolla-ansible's /etc/kolla/nova-libvirt/libvirtd.conf)",
            ERR_INVALID_ARG,
        )
    _conffile.check_writable(path, exists)
    return ConfigPlan(path, before or "", _edited(path, before or "", values), values, exists)


def write(config: ConfigPlan, params: dict, timeout: float) -> str | None:
    """Make the planned edit on the file as it is now, under the lock; returns the backup's path, if one was made."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _conffile

    with _conffile.locked(config.path, timeout):
        current = _conffile.read(config.path)
        text = _edited(config.path, current or "", config.values)
        return _conffile.write_atomically(config.path, text, backup=params["backup"], create=params["create"])
