# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API and may change
# at any time.
"""The binding's per-client calls: ClientConnection, an AdminConnection that also
lists a server's clients (with their info) and disconnects clients, spread over
several admin connections when there are many.

Part of the binding, kept apart so that only the modules that work on clients
carry it: every module_util a module imports costs each of its tasks time, on
the controller and on the host. Nothing here knows about Ansible.
"""

from __future__ import annotations

import ctypes
import threading
import time
from contextlib import contextmanager

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    _PP,
    ADMIN_SERVER,
    ERR_NO_CLIENT,
    AdminConnection,
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


class _ClientList:
    """Client handles from virAdmServerListClients, freed by free()."""

    def __init__(self, lib, clients, count: int) -> None:
        self._lib = lib
        self._clients = clients
        self._count = count
        self.handles = {lib.virAdmClientGetID(clients[i]): clients[i] for i in range(count)}

    def free(self) -> None:
        for i in range(self._count):
            self._lib.virAdmClientFree(self._clients[i])
        self._lib.free(self._clients)
        self._count, self.handles = 0, {}


def _list(conn, server: str) -> _ClientList:
    clients = _PP()
    with conn._server(server) as srv:
        count = conn._check(
            conn._lib.virAdmServerListClients(srv, ctypes.byref(clients), 0), "list the server's clients"
        )
    return _ClientList(conn._lib, clients, count)


@contextmanager
def _listed(conn, server: str):
    """{id: handle} of the server's clients, in the daemon's order (freed afterwards)."""
    listing = _list(conn, server)
    try:
        yield listing.handles
    finally:
        listing.free()


def _record(conn, client, with_info: bool) -> dict:
    lib = conn._lib
    record = {
        "id": lib.virAdmClientGetID(client),
        "timestamp": lib.virAdmClientGetTimestamp(client),
        "transport": lib.virAdmClientGetTransport(client),
    }
    if with_info:
        record["info"] = conn._read_params(lib.virAdmClientGetInfo, client, "get client info")
    return record


class _Helper:
    """An extra connection for per-client calls and its own listing of the server's clients,
    opened in a thread of its own so that a daemon that leaves it waiting cannot hold the task:
    not ready by the deadline, it is given up, and closed by its thread once it opens."""

    def __init__(self, uri: str | None, server: str) -> None:
        self._lock = threading.Lock()
        self._given_up = False
        self._opened = threading.Event()
        self.conn = None
        self.listing = None
        threading.Thread(target=self._open, args=(uri, server), daemon=True).start()

    def _open(self, uri: str | None, server: str) -> None:
        conn = listing = None
        try:
            conn = AdminConnection(uri)
            listing = _list(conn, server)
        except LibvirtAdminError:
            pass
        with self._lock:
            if not self._given_up:
                self.conn, self.listing = conn, listing
                conn = listing = None
            self._opened.set()
        _Helper._close(conn, listing)

    def ready(self, deadline: float) -> bool:
        """Whether it opened and listed the clients before the deadline."""
        return self._opened.wait(max(deadline - time.monotonic(), 0)) and self.listing is not None

    def release(self) -> None:
        with self._lock:
            self._given_up = True
            conn, listing, self.conn, self.listing = self.conn, self.listing, None, None
        _Helper._close(conn, listing)

    @staticmethod
    def _close(conn, listing) -> None:
        if listing is not None:
            listing.free()
        if conn is not None:
            conn.close()


def _room_for_helpers(conn) -> int:
    """How many more clients the admin server takes now (0 when that cannot be read): a client
    beyond its max_clients is not refused but left waiting, unanswered."""
    try:
        limits = conn.get_client_limits(ADMIN_SERVER)
    except LibvirtAdminError:
        return 0
    return max(limits.get("nclients_max", 0) - limits.get("nclients", 0), 0)


def _per_client(conn, server: str, function, wanted=None) -> list:
    """[function(connection, client_id, handle or None)] for each listed client that wanted (a test of
    the client's id, timestamp and transport, asked without a round trip) accepts, all by default; handle
    None for a client that an extra connection's listing does not have (it has left). Many clients:
    spread over several connections and threads (see EXTRA_CONNECTIONS); the results keep the daemon's
    order."""
    with _listed(conn, server) as handles:
        ids = [key for key, handle in handles.items() if wanted is None or wanted(_record(conn, handle, False))]
        if len(ids) < PARALLEL_FROM or server == ADMIN_SERVER:
            # The admin server's own clients would include the extra connections.
            return [function(conn, client_id, handles[client_id]) for client_id in ids]
        helpers = [_Helper(conn._uri, server) for index in range(min(EXTRA_CONNECTIONS, _room_for_helpers(conn)))]
        try:
            deadline = time.monotonic() + HELPER_OPEN_SECONDS
            opened = [helper for helper in helpers if helper.ready(deadline)]
            connections = [(conn, handles), *((helper.conn, helper.listing.handles) for helper in opened)]

            def call(index: int, client_id):
                connection, its_handles = connections[index % len(connections)]
                return function(connection, client_id, its_handles.get(client_id))

            from concurrent.futures import ThreadPoolExecutor  # only here: its import costs every task time

            with ThreadPoolExecutor(len(connections) * CALLS_PER_CONNECTION) as pool:
                return list(pool.map(call, range(len(ids)), ids))
        finally:
            for helper in helpers:
                helper.release()


def _info(connection, client_id, handle):
    """A client's record with its info; None for a client that has left."""
    if handle is None:  # not listed on an extra connection: it has left
        return None
    try:
        return _record(connection, handle, True)
    except LibvirtAdminError as error:
        if error.code != ERR_NO_CLIENT:
            raise
        return None


def _close(connection, client_id, handle) -> bool:
    """Disconnect a client; False when it had left already."""
    if handle is None:
        return False
    if connection._lib.virAdmClientClose(handle, 0) < 0:
        error = connection._lib.last_error(f"disconnect client {client_id}")
        if error.code != ERR_NO_CLIENT:
            raise error
        return False
    return True


def _info_then_close(chosen):
    """The per-client call of disconnect_clients: the client's record, and the client disconnected
    when chosen(record) says so; None for a client not chosen or that left on its own."""

    def call(connection, client_id, handle):
        item = _info(connection, client_id, handle)
        if item is None or not chosen(item) or not _close(connection, client_id, handle):
            return None
        return item

    return call


class ClientConnection(AdminConnection):
    """An admin connection with the per-client calls."""

    def list_clients(self, server: str, with_info: bool = True, wanted=None) -> list:
        """The server's clients (those that wanted accepts, see disconnect_clients): dicts with id,
        timestamp (epoch seconds), transport (0 unix, 1 tcp, 2 tls) and, with_info, info (the
        client's typed parameters: readonly, sock_addr, unix_user_id, ...). A client that leaves
        while being read is left out."""
        if not with_info:
            with _listed(self, server) as handles:
                records = [_record(self, handle, False) for handle in handles.values()]
            return [record for record in records if wanted is None or wanted(record)]
        return [item for item in _per_client(self, server, _info, wanted) if item is not None]

    def disconnect_clients(self, server: str, chosen, wanted=None) -> list:
        """Read the clients as list_clients does and disconnect each one that chosen(its dict)
        accepts, right after reading it: one pass, so that every call after a disconnect finds one
        client fewer for the daemon to look through. wanted(dict without info), asked first,
        spares the info call for the clients it refuses. Returns the dicts of the clients
        disconnected; one that leaves on its own first is not among them and is no error."""
        return [item for item in _per_client(self, server, _info_then_close(chosen), wanted) if item is not None]


# What the modules that work on clients open (AdminModule.connection); the unit tests swap it for a fake.
open_connection = ClientConnection
