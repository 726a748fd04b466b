# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A server's client limits as a part of the pipeline.

The admin server's max_clients is never lowered to a value that leaves no room for the next admin
connection: libvirt does not refuse a client beyond the limit, it stops accepting connections, and
every later virt-admin and task would wait unanswered until the daemon is restarted by hand."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    ERR_INVALID_ARG,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import Part, described
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import read_client_limits
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import (
    CLIENTS,
    check_values,
    names,
    to_fields,
)

SETTINGS = names(CLIENTS)


def validate(current: dict, desired: dict, server: str | None = None) -> dict:
    """The merged client limits, or LibvirtAdminError saying what is wrong."""
    check_values(CLIENTS, desired)
    merged = {key: desired.get(key, current[key]) for key in SETTINGS}
    if merged["max_unauth_clients"] > merged["max_clients"]:
        raise LibvirtAdminError(
            f"{described('max_unauth_clients', merged, desired)} is larger than "
            f"{described('max_clients', merged, desired)}; "
            "clients waiting for authentication count towards max_clients, so keep max_unauth_clients at or below it",
            ERR_INVALID_ARG,
        )
    changing = "max_clients" in desired and desired["max_clients"] != current["max_clients"]
    if server == ADMIN_SERVER and changing and desired["max_clients"] <= current["clients"]:
        raise LibvirtAdminError(
            f"max_clients {desired['max_clients']} of the admin server would leave no room for the next admin "
            f"connection ({current['clients']} admin clients are connected now, this task's own among them): "
            "libvirt would stop accepting admin connections, and virt-admin and every task of this collection "
            f"would wait unanswered until the daemon is restarted; keep it at {current['clients'] + 1} or more",
            ERR_INVALID_ARG,
        )
    return merged


def apply(conn, server: str, changes: dict) -> None:
    conn.set_client_limits(server, to_fields(changes))


class ClientLimitsPart(Part):
    what = "client limits"
    kind = CLIENTS

    def read(self, conn) -> dict:
        return read_client_limits(conn, self.server)

    def validate(self, current: dict) -> None:
        validate(current, self.desired, self.server)

    def apply(self, conn) -> None:
        apply(conn, self.server, self.changes)

    def undo(self, conn) -> None:
        apply(conn, self.server, {key: self.before[key] for key in self.changes})
