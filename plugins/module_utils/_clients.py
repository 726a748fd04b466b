# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A server's clients: records as the modules return them, the client filter shared by
libvirt_admin_client_info and libvirt_admin_clients, and disconnecting the clients that match it."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from fnmatch import fnmatchcase

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    ERR_INVALID_ARG,
    TRANSPORTS,
    LibvirtAdminError,
)

# record key -> libvirt's client info field
INFO_FIELDS = {
    "readonly": "readonly",
    "sock_addr": "sock_addr",
    "sasl_user_name": "sasl_user_name",
    "x509_dname": "tls_x509_dname",
    "unix_user_id": "unix_user_id",
    "unix_user_name": "unix_user_name",
    "unix_group_id": "unix_group_id",
    "unix_group_name": "unix_group_name",
    "unix_process_id": "unix_process_id",
    "selinux_context": "selinux_context",
}

# The client filter: every criterion given must hold.
FILTER_OPTIONS = {
    "ids": {"type": "list", "elements": "int"},
    "transport": {"type": "str", "choices": list(TRANSPORTS.values())},
    "readonly": {"type": "bool"},
    "unix_user_name": {"type": "str"},
    "unix_user_id": {"type": "int"},
    "unix_group_name": {"type": "str"},
    "unix_process_id": {"type": "int"},
    "sock_addr": {"type": "str"},
    "sasl_user_name": {"type": "str"},
    "x509_dname": {"type": "str"},
    "min_age": {"type": "int"},
}
PATTERN_CRITERIA = ("sock_addr", "sasl_user_name", "x509_dname")
# Criteria answered without asking the daemon for each client's info.
LISTING_CRITERIA = ("ids", "transport", "min_age")


def _iso(timestamp: int) -> str | None:
    if not timestamp:  # 0: connected before the daemon re-executed itself; libvirt does not know
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def client_record(raw: dict, server: str) -> dict:
    """A client as the modules return it: every key present, None where the
    transport does not tell."""
    info = raw.get("info", {})
    record = {
        "id": raw["id"],
        "server": server,
        "transport": TRANSPORTS.get(raw["transport"], str(raw["transport"])),
        "connected_since": raw["timestamp"],
        "connected_since_iso": _iso(raw["timestamp"]),
    }
    record.update({key: info.get(field) for key, field in INFO_FIELDS.items()})
    return record


def criteria_of(match: dict | None) -> dict:
    """The criteria actually given in a filter dict (options left out are None)."""
    return {key: value for key, value in (match or {}).items() if key in FILTER_OPTIONS and value is not None}


def validate_criteria(criteria: dict) -> None:
    for key in ("unix_user_id", "unix_process_id", "min_age"):
        if key in criteria and criteria[key] < 0:
            raise LibvirtAdminError(f"{key} must not be negative, got {criteria[key]}", ERR_INVALID_ARG)
    if any(client_id < 0 for client_id in criteria.get("ids", [])):
        raise LibvirtAdminError(f"ids must be client ids (0 or more), got {criteria['ids']}", ERR_INVALID_ARG)


def needs_info(criteria: dict) -> bool:
    """Whether matching needs each client's info (one more call per client)."""
    return any(key not in LISTING_CRITERIA for key in criteria)


def matches(record: dict, criteria: dict, now: float) -> bool:
    for key, wanted in criteria.items():
        value = record.get(key)
        if key == "ids":
            if record["id"] not in wanted:
                return False
        elif key == "min_age":
            if now - record["connected_since"] < wanted:
                return False
        elif key in PATTERN_CRITERIA:
            # A literal value matches itself too: an IPv6 sock_addr ("[2001:db8::1]:5000") is no valid pattern.
            if value is None or not (value == wanted or fnmatchcase(value, wanted)):
                return False
        elif value != wanted:
            return False
    return True


def _listing_test(server: str, criteria: dict, now: float):
    """A test of a listed client (no info yet) by the criteria that need no info, or None when
    there are none: the clients it refuses are not asked for their info."""
    listing = {key: value for key, value in criteria.items() if key in LISTING_CRITERIA}
    if not listing:
        return None

    def wanted(item: dict) -> bool:
        return matches(client_record(item, server), listing, now)

    return wanted


def read_clients(conn, server: str, criteria: dict, with_info: bool = True) -> list:
    """The server's clients that match the criteria (all when there are none)."""
    now = time.time()
    raw = _clientcalls.list_clients(
        conn, server, with_info=with_info or needs_info(criteria), wanted=_listing_test(server, criteria, now)
    )
    records = [client_record(item, server) for item in raw]
    return [record for record in records if matches(record, criteria, now)]


def is_own_connection(record: dict) -> bool:
    """This process's own admin connection, which a module never drops."""
    return record["server"] == ADMIN_SERVER and record["unix_process_id"] == os.getpid()


def to_disconnect(conn, server: str, criteria: dict) -> list:
    """The records of the clients disconnect_clients would drop now (check mode)."""
    return [record for record in read_clients(conn, server, criteria) if not is_own_connection(record)]


def disconnect_clients(conn, server: str, criteria: dict) -> list:
    """Disconnect the clients that match the criteria, never this process's own connection, each
    right after reading it; the records of those disconnected. The same test as to_disconnect."""
    now = time.time()

    def chosen(item: dict) -> bool:
        record = client_record(item, server)
        return matches(record, criteria, now) and not is_own_connection(record)

    dropped = _clientcalls.disconnect_clients(conn, server, chosen, wanted=_listing_test(server, criteria, now))
    return [client_record(item, server) for item in dropped]


def summary(record: dict) -> str:
    """One line per client for diffs: id, transport, and who or where."""
    parts = [f"id {record['id']}", record["transport"]]
    if record["readonly"]:
        parts.append("readonly")
    if record["unix_user_name"] is not None:
        parts.append(f"user {record['unix_user_name']}")
    if record["unix_process_id"] is not None:
        parts.append(f"pid {record['unix_process_id']}")
    for key in ("sock_addr", "sasl_user_name", "x509_dname"):
        if record[key]:
            parts.append(record[key])
    return ", ".join(parts)
