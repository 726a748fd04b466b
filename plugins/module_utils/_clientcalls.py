# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""The per-client calls over any AdminConnection (_admin's interface, so either backend and the unit
tests' fake): list a server's clients with their info, and disconnect clients, spread over several
admin connections when there are many.

Kept apart so that only the modules that work on clients carry it: every module_util a module
imports costs each of its tasks time, on the controller and on the host. Nothing here knows about
Ansible.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    ERR_NO_CLIENT,
    LibvirtAdminError,
)

# Per-client calls (info, close) are round trips through the daemon's one event
# loop, which takes longer per round trip the more clients the daemon has (about
# 2 ms each at 1,000 clients). From PARALLEL_FROM clients on they go out over
# this connection and up to EXTRA_CONNECTIONS more, CALLS_PER_CONNECTION at a
# time on each: the loop then reads several requests per turn. libvirt takes
# 5 requests at once per admin client (admin_max_client_requests) and runs 20
# admin workers by default. Only as many extra connections are opened as the
# admin server has room for (beyond admin_max_clients a connection is left
# waiting, not refused), and one not open within HELPER_OPEN_SECONDS is not used.
PARALLEL_FROM = 8
EXTRA_CONNECTIONS = 3
CALLS_PER_CONNECTION = 3
HELPER_OPEN_SECONDS = 1.0


def listed(client) -> dict:
    """What the listing says of a client, without a round trip: id, timestamp, transport."""
    return {"id": client.id, "timestamp": client.timestamp, "transport": client.transport}


def _record(connection, client) -> dict:
    return {**listed(client), "info": connection.client_info(client)}


class _Helper:
    """An extra connection for per-client calls and its own listing of the server's clients,
    opened in a thread of its own so that a daemon that leaves it waiting cannot hold the task:
    not ready by the deadline, it is given up, and closed by its thread once it opens."""

    def __init__(self, conn, server: str) -> None:
        self._lock = threading.Lock()
        self._given_up = False
        self._opened = threading.Event()
        self.conn = None
        self.by_id = None
        self._stack = ExitStack()
        threading.Thread(target=self._open, args=(conn, server), daemon=True).start()

    def _open(self, conn, server: str) -> None:
        stack = ExitStack()
        helper = by_id = None
        try:
            helper = stack.enter_context(conn.reopen())
            by_id = {client.id: client for client in stack.enter_context(helper.clients(server))}
        except LibvirtAdminError:
            helper = by_id = None
        with self._lock:
            if not self._given_up and by_id is not None:
                self.conn, self.by_id, self._stack = helper, by_id, stack
                stack = ExitStack()
            self._opened.set()
        stack.close()

    def ready(self, deadline: float) -> bool:
        """Whether it opened and listed the clients before the deadline."""
        return self._opened.wait(max(deadline - time.monotonic(), 0)) and self.by_id is not None

    def release(self) -> None:
        with self._lock:
            self._given_up = True
            stack, self._stack, self.conn, self.by_id = self._stack, ExitStack(), None, None
        stack.close()


def _room_for_helpers(conn) -> int:
    """How many more clients the admin server takes now (0 when that cannot be read): a client
    beyond its max_clients is not refused but left waiting, unanswered."""
    try:
        limits = conn.get_client_limits(ADMIN_SERVER)
    except LibvirtAdminError:
        return 0
    return max(limits.get("nclients_max", 0) - limits.get("nclients", 0), 0)


def _per_client(conn, server: str, function, wanted=None) -> list:
    """[function(connection, client or None)] for each listed client that wanted (a test of what the
    listing says of it, see listed()) accepts, all by default; None for a client that an extra
    connection's listing does not have (it has left). Many clients: spread over several connections
    and threads (see EXTRA_CONNECTIONS); the results keep the daemon's order."""
    with conn.clients(server) as clients:
        chosen = [client for client in clients if wanted is None or wanted(listed(client))]
        if len(chosen) < PARALLEL_FROM or server == ADMIN_SERVER:
            # The admin server's own clients would include the extra connections.
            return [function(conn, client) for client in chosen]
        helpers = [_Helper(conn, server) for index in range(min(EXTRA_CONNECTIONS, _room_for_helpers(conn)))]
        try:
            deadline = time.monotonic() + HELPER_OPEN_SECONDS
            opened = [helper for helper in helpers if helper.ready(deadline)]
            connections = [(conn, None), *((helper.conn, helper.by_id) for helper in opened)]

            def call(index: int, client):
                connection, by_id = connections[index % len(connections)]
                return function(connection, client if by_id is None else by_id.get(client.id))

            from concurrent.futures import ThreadPoolExecutor  # only here: its import costs every task time

            with ThreadPoolExecutor(len(connections) * CALLS_PER_CONNECTION) as pool:
                return list(pool.map(call, range(len(chosen)), chosen))
        finally:
            for helper in helpers:
                helper.release()


def _info(connection, client):
    """A client's record with its info; None for a client that has left."""
    if client is None:  # not listed on an extra connection: it has left
        return None
    try:
        return _record(connection, client)
    except LibvirtAdminError as error:
        if error.code != ERR_NO_CLIENT:
            raise
        return None


def _close(connection, client) -> bool:
    """Disconnect a client; False when it had left already."""
    if client is None:
        return False
    try:
        connection.close_client(client)
    except LibvirtAdminError as error:
        if error.code != ERR_NO_CLIENT:
            raise
        return False
    return True


def list_clients(conn, server: str, with_info: bool = True, wanted=None) -> list:
    """The server's clients (those that wanted accepts, see disconnect_clients): dicts with id,
    timestamp (epoch seconds), transport (0 unix, 1 tcp, 2 tls) and, with_info, info (the client's
    typed parameters: readonly, sock_addr, unix_user_id, ...). A client that leaves while being
    read is left out."""
    if not with_info:
        with conn.clients(server) as clients:
            records = [listed(client) for client in clients]
        return [record for record in records if wanted is None or wanted(record)]
    return [item for item in _per_client(conn, server, _info, wanted) if item is not None]


def disconnect_clients(conn, server: str, chosen, wanted=None) -> list:
    """Read the clients as list_clients does and disconnect each one that chosen(its dict) accepts,
    right after reading it: one pass, so that every call after a disconnect finds one client fewer
    for the daemon to look through. wanted(dict without info), asked first, spares the info call
    for the clients it refuses. Returns the dicts of the clients disconnected; one that leaves on
    its own first is not among them and is no error."""

    def info_then_close(connection, client):
        item = _info(connection, client)
        if item is None or not chosen(item) or not _close(connection, client):
            return None
        return item

    return [item for item in _per_client(conn, server, info_then_close, wanted) if item is not None]
