# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The one table of what the collection manages: each setting's name (as the modules take it), its
kind, libvirt's typed-parameter field, its bounds, and its key in a daemon's config file for the
daemon's own server and for the admin server; the read-only counters beside them; the logging
keys. Reading, validation, config file edits (_persist.config_keys), the docs checks and the unit
tests' fake daemon all read it from here.
"""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    LibvirtAdminError,
    check_uint,
)

THREADPOOL = "threadpool"
CLIENTS = "clients"
LOGGING = "logging"

# min_workers and prio_workers threads are started at once: libvirtd aborts on absurd counts (seen:
# 4294967295 kills libvirt 9.0 and 11.3). A pool of this size is already far beyond any real host.
MAX_STARTED_THREADS = 100000


class Setting:
    """A runtime setting of a server. main_key / admin_key: its key in the daemon's config file for
    the daemon's own server / the admin server (None: there is none); least / most: its bounds."""

    __slots__ = ("admin_key", "field", "kind", "least", "main_key", "most", "name")

    def __init__(self, name, kind, field, main_key, admin_key, least=0, most=None) -> None:
        self.name = name
        self.kind = kind
        self.field = field
        self.main_key = main_key
        self.admin_key = admin_key
        self.least = least
        self.most = most


SETTINGS = {
    setting.name: setting
    for setting in (
        Setting("min_workers", THREADPOOL, "minWorkers", "min_workers", "admin_min_workers", most=MAX_STARTED_THREADS),
        Setting("max_workers", THREADPOOL, "maxWorkers", "max_workers", "admin_max_workers"),
        Setting("prio_workers", THREADPOOL, "prioWorkers", "prio_workers", None, most=MAX_STARTED_THREADS),
        Setting("max_clients", CLIENTS, "nclients_max", "max_clients", "admin_max_clients"),
        Setting("max_unauth_clients", CLIENTS, "nclients_unauth_max", "max_anonymous_clients", None),
    )
}
KIND_LABELS = {THREADPOOL: "thread pool setting", CLIENTS: "client limit"}
# Read-only counters beside the settings: name -> libvirt's field.
COUNTERS = {
    THREADPOOL: {"workers": "nWorkers", "free_workers": "freeWorkers", "job_queue_depth": "jobQueueDepth"},
    CLIENTS: {"clients": "nclients", "unauth_clients": "nclients_unauth"},
}
# The daemon's logging: part -> config key (a string of space-separated items).
LOGGING_KEYS = {"outputs": "log_outputs", "filters": "log_filters"}
# Daemons whose servers run without worker threads and whose one client key (max_clients, or
# admin_max_clients for the admin server) sets both client limits at start.
SHARED_LIMIT_DAEMONS = ("virtlogd", "virtlockd")


def names(kind: str) -> tuple:
    """The settings of a kind, in the table's order (logging: its parts)."""
    if kind == LOGGING:
        return tuple(LOGGING_KEYS)
    return tuple(name for name, setting in SETTINGS.items() if setting.kind == kind)


def fields(kind: str) -> dict:
    """name -> libvirt field, for the settings and the counters of a kind."""
    settable = {name: SETTINGS[name].field for name in names(kind)}
    return {**settable, **COUNTERS[kind]}


def from_fields(kind: str, raw: dict) -> dict:
    """Typed parameters as the daemon gives them -> the settings and counters by our names."""
    return {name: raw.get(field) for name, field in fields(kind).items()}


def to_fields(values: dict) -> dict:
    """Settings by our names -> the same values by libvirt's field names."""
    return {SETTINGS[name].field: value for name, value in values.items()}


def check_values(kind: str, values: dict) -> None:
    """Every value is a setting of this kind and within the setting's bounds, or LibvirtAdminError."""
    for name, value in values.items():
        if name not in SETTINGS or SETTINGS[name].kind != kind:
            raise LibvirtAdminError(
                f"{name} is not a {KIND_LABELS[kind]}; use one of {', '.join(names(kind))}", ERR_INVALID_ARG
            )
        check_uint(name, value)
        most = SETTINGS[name].most
        if most is not None and value > most:
            raise LibvirtAdminError(
                f"{name} {value} would make the daemon start that many threads at once, which kills it "
                f"(libvirt aborts when it cannot allocate them); keep {name} at or below {most}",
                ERR_INVALID_ARG,
            )
