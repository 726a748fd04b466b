# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Disconnecting the clients that match a filter, as a part of the pipeline (libvirt_admin_clients).
Apart from _clients, so that libvirt_admin_client_info carries none of the pipeline."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._clients import (
    disconnect_clients,
    summary,
    to_disconnect,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._pipeline import Part


class DisconnectPart(Part):
    """The clients of a server that match a filter, to be disconnected. Clients come and go, so a
    real run reads and drops each matching client in one pass (disconnect_clients) and knows what
    changed only then; check mode reads the same clients with the same test (to_disconnect).
    before holds the records of the clients disconnected (or that would be), after none."""

    what = "clients"
    undoable = False

    def __init__(self, criteria: dict, server: str | None, check_mode: bool) -> None:
        super().__init__(criteria, server)
        self.check_mode = check_mode

    @property
    def reading(self) -> str:
        return "list the clients of"

    @property
    def changing(self) -> str:
        return "disconnect clients of"

    def read(self, conn) -> dict:
        return {"matching": to_disconnect(conn, self.server, self.desired) if self.check_mode else []}

    def find_changes(self) -> dict:
        if self.check_mode and not self.before["matching"]:
            return {}
        return {"disconnect": self.desired}  # a real run knows what it dropped once done

    @property
    def changed(self) -> bool:
        return bool(self.disconnected)

    @property
    def disconnected(self) -> list:
        """The records of the clients disconnected (in check mode, of those that would be)."""
        return self.before["matching"]

    def predict(self) -> dict:
        return {"matching": []}

    def apply(self, conn) -> None:
        self.before = {"matching": disconnect_clients(conn, self.server, self.desired)}

    def reread(self, conn) -> dict:
        return {"matching": []}

    def undo_note(self) -> str:
        return f"{len(self.disconnected)} clients had been disconnected already"

    def shown(self, state: dict) -> dict:
        return {"matching_clients": [summary(record) for record in state["matching"]]}

    def intended(self) -> dict:
        return {"matching": []}

    def persisted(self):
        return None
