"""A fake libvirt daemon behind a fake admin connection, for the unit tests.

FakeAdminConnection implements the backends' interface, _admin.AdminConnection, as
the library and protocol backends do; the per-client code of _clientcalls runs over it
as over them.
FakeDaemon holds what outlives one connection (the servers' state, injected
failures, every call made), so that a second module run sees the first one's
change. The rules and messages are libvirt 9.0's, checked against a real
libvirtd 9.0 through the real binding:

- virThreadPoolSetParameters (src/util/virthreadpool.c): min > max of the
  resulting pair is refused, then a switch of maxWorkers between 0 and
  non-zero; then min is applied (starting workers up to it), then max
  (idle surplus workers exit), then prio, stopping at the first failure;
- virNetServerSetClientLimits: nclients_max below nclients_unauth_max is refused;
- virTypedParamsValidate: unknown fields are refused before any rule;
- adminClientGetInfo (src/admin/admin_server.c): readonly, sasl_user_name for
  SASL clients, then sock_addr (and tls_x509_dname for TLS) for TCP and TLS
  clients or the peer's unix_* credentials for UNIX socket clients, then
  selinux_context where the peer has one;
- virNetServerUpdateTlsFiles (src/rpc/virnetserver.c): a server with no TLS
  listener (the admin server never has one) fails with an internal error;
- client ids count up from 1 per server and are never reused; closing a
  client that is gone already is libvirt's ERR_NO_CLIENT, which
  _clientcalls.disconnect_clients leaves out rather than raising.

Every connection is itself a client of the daemon's admin server (a UNIX
socket client whose unix_process_id is this process) while it is open.
"""

from __future__ import annotations

import copy
import os
import time
from contextlib import contextmanager

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ADMIN_SERVER,
    DEFAULT_TIMEOUT,
    ERR_INVALID_ARG,
    ERR_NO_CLIENT,
    ERR_NO_SERVER,
    ERR_SYSTEM_ERROR,
    AdminClient,
    AdminConnection,
    LibvirtAdminError,
    check_uint,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import CLIENTS, SETTINGS, THREADPOOL

ERR_ARGUMENT_UNSUPPORTED = 74

# What the daemon reports, in the daemon's order.
POOL_FIELDS = ("minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers", "jobQueueDepth")
CLIENT_FIELDS = ("nclients_max", "nclients", "nclients_unauth_max", "nclients_unauth")


def server_state(pool: tuple, clients: tuple) -> dict:
    """One server's state from values in the order of POOL_FIELDS and CLIENT_FIELDS."""
    return {"threadpool": dict(zip(POOL_FIELDS, pool)), "clients": dict(zip(CLIENT_FIELDS, clients))}


# A fresh libvirtd 9.0 with its compiled-in defaults, as virt-admin reads it
# (the admin server serves the reading connection: one busy worker, and one
# client, which is the reading connection itself: nclients is 0 here and each
# open connection counts as one).
LIBVIRTD_9_0 = {
    "admin": server_state((5, 20, 5, 4, 0, 0), (5000, 0, 0, 0)),
    "libvirtd": server_state((5, 20, 5, 5, 5, 0), (5000, 0, 20, 0)),
}
# virtlogd 9.0: servers without a worker pool, its own server listed first.
VIRTLOGD_9_0 = {
    "virtlogd": server_state((0, 0, 0, 0, 0, 0), (1024, 0, 1024, 0)),
    "admin": server_state((0, 0, 0, 0, 0, 0), (5000, 0, 5000, 0)),
}

# The settable fields, from the collection's table of settings.
THREADPOOL_FIELDS = tuple(setting.field for setting in SETTINGS.values() if setting.kind == THREADPOOL)
CLIENT_LIMIT_FIELDS = tuple(setting.field for setting in SETTINGS.values() if setting.kind == CLIENTS)
ERR_INTERNAL_ERROR = 1
THREAD_ERROR = LibvirtAdminError("Failed to create thread: Resource temporarily unavailable", ERR_SYSTEM_ERROR)
SOCKET_CLOSED = LibvirtAdminError("internal error: client socket is closed", ERR_INTERNAL_ERROR)
PERMISSION_DENIED = LibvirtAdminError("Failed to connect socket to '/x': Permission denied", ERR_SYSTEM_ERROR)
NO_TLS_SERVICE = LibvirtAdminError(
    "internal error: no tls service found, unable to update tls files", ERR_INTERNAL_ERROR
)


def _invalid(text: str) -> LibvirtAdminError:
    return LibvirtAdminError(f"invalid argument: {text}", ERR_INVALID_ARG)


# virClientTransport
TRANSPORT_NUMBERS = {"unix": 0, "tcp": 1, "tls": 2}
# The client info fields each transport has, after readonly (and sasl_user_name
# for SASL clients) and before selinux_context (where the peer has one).
TRANSPORT_INFO_FIELDS = {
    0: ("unix_user_id", "unix_user_name", "unix_group_id", "unix_group_name", "unix_process_id"),
    1: ("sock_addr",),
    2: ("sock_addr", "tls_x509_dname"),
}
OPTIONAL_INFO_FIELDS = ("sasl_user_name", "selinux_context")
# What the fake reports for a transport's fields that a test does not give.
DEFAULT_INFO = {
    "unix_user_id": 0,
    "unix_user_name": "root",
    "unix_group_id": 0,
    "unix_group_name": "root",
    "unix_process_id": 4242,
    "sock_addr": "192.0.2.10:53612",
    "tls_x509_dname": "CN=client1,O=Example",
}


def client_info(transport: int, readonly: bool = False, **fields) -> dict:
    """A client's info as the daemon reports it for this transport: readonly,
    every field of the transport (DEFAULT_INFO where not given), and the
    optional sasl_user_name / selinux_context only when given."""
    allowed = TRANSPORT_INFO_FIELDS[transport]
    foreign = sorted(set(fields) - set(allowed) - set(OPTIONAL_INFO_FIELDS))
    if foreign:
        raise ValueError(f"a client of transport {transport} has no {', '.join(foreign)}")
    info = {"readonly": readonly}
    if "sasl_user_name" in fields:
        info["sasl_user_name"] = fields["sasl_user_name"]
    info.update({field: fields.get(field, DEFAULT_INFO[field]) for field in allowed})
    if "selinux_context" in fields:
        info["selinux_context"] = fields["selinux_context"]
    return info


def add_sample_clients(daemon: FakeDaemon, server: str = "libvirtd") -> dict:
    """A mix of clients on a server, ids by role (1 to 6 on a fresh server, in this order)."""
    return {
        "root_shell": daemon.add_client(server, "unix", age=30),
        "alice": daemon.add_client(
            server,
            "unix",
            age=300,
            readonly=True,
            unix_user_id=1000,
            unix_user_name="alice",
            unix_group_id=100,
            unix_group_name="users",
            unix_process_id=5151,
            selinux_context="unconfined_u:unconfined_r:unconfined_t:s0",
        ),
        "tcp_old": daemon.add_client(server, "tcp", age=7200, sock_addr="192.0.2.10:53612", sasl_user_name="admin"),
        "tcp_new": daemon.add_client(server, "tcp", age=10, readonly=True, sock_addr="198.51.100.7:40000"),
        "tls": daemon.add_client(
            server, "tls", age=86400, sock_addr="192.0.2.77:16514", tls_x509_dname="CN=monitor,O=Example"
        ),
        # connected before the daemon re-executed itself: libvirt does not know since when
        "before_reexec": daemon.add_client(server, "unix", timestamp=0, unix_process_id=777),
    }


# The main server's pool of LIBVIRTD_9_0 as the modules return it (snake_case keys).
LIBVIRTD_THREADPOOL = {
    "min_workers": 5,
    "max_workers": 20,
    "prio_workers": 5,
    "workers": 5,
    "free_workers": 5,
    "job_queue_depth": 0,
}


class FakeDaemon:
    """The daemon side: servers by name, in the daemon's order, with libvirt's field names."""

    def __init__(self, servers: dict | None = None, uri: str = "libvirtd:///system", version: int = 9000000) -> None:
        self.servers = copy.deepcopy(LIBVIRTD_9_0 if servers is None else servers)
        self.default_uri = uri
        self.version = version
        self.connect_error: LibvirtAdminError | None = None  # raised by every connection attempt
        self.fail_at: str | None = None  # "min", "max" or "prio": set_threadpool fails at that step, if given
        self.prio_lag_reads = 0  # reads that still show the old prioWorkers after a decrease
        self.connections: list = []  # every connection opened
        self.calls: list = []  # every call on every connection: (name, *args)
        self._planned: dict = {}  # (name, call number) -> error
        self._prio_lag: dict = {}  # server -> [old value, reads left]
        self.client_lists: dict = {}  # server -> its clients in the daemon's order: id, timestamp, transport, info
        self.log_outputs = "3:stderr"  # as the daemon stores them
        self.log_filters = ""
        self._next_client_id: dict = {}  # server -> the id its next client gets
        self._leaving: dict = {}  # server -> ids of clients that leave right after the next listing
        self.without_tls: set = {ADMIN_SERVER}  # servers with no TLS listener (the admin server never has one)
        self.tls_reloads: dict = {}  # server -> how many times it reloaded its TLS files
        self.daemon_timeout: int | None = None  # what set_daemon_timeout set last
        self.shut_down: list = []  # the preserve flag of every shutdown asked for
        self.opened_with: dict = {}  # the backend and timeout of the last connection opened

    def connect(self, uri: str | None = None, backend: str = "auto", timeout: float = DEFAULT_TIMEOUT):
        """The factory the tests put in place of _admin.open_connection."""
        self.opened_with = {"backend": backend, "timeout": timeout}
        return FakeAdminConnection(uri, daemon=self, timeout=timeout)

    def watch_client_passes(self, monkeypatch) -> None:
        """Record each pass of _clientcalls over a server's clients among the calls, as
        ("list_clients", server, with_info) and ("disconnect_clients", server), and let fail_call
        make a pass fail before it starts."""

        def listing(conn, server, with_info=True, wanted=None):
            self.record("list_clients", server, with_info)
            return list_clients(conn, server, with_info, wanted)

        def disconnecting(conn, server, chosen, wanted=None):
            self.record("disconnect_clients", server)
            return disconnect_clients(conn, server, chosen, wanted)

        list_clients, disconnect_clients = _clientcalls.list_clients, _clientcalls.disconnect_clients
        monkeypatch.setattr(_clientcalls, "list_clients", listing)
        monkeypatch.setattr(_clientcalls, "disconnect_clients", disconnecting)

    def fail_call(self, name: str, error: LibvirtAdminError, nth: int = 1) -> None:
        """Make the nth call of method `name` from now on raise `error` before doing anything."""
        done = sum(1 for call in self.calls if call[0] == name)
        self._planned[(name, done + nth)] = error

    @property
    def setter_calls(self) -> list:
        return [call for call in self.calls if call[0].startswith("set_")]

    def calls_of(self, name: str) -> list:
        """The calls of method `name` that reached the daemon, in order."""
        return [call for call in self.calls if call[0] == name]

    # Clients.

    def add_client(
        self,
        server: str,
        transport: str = "unix",
        age: int = 60,
        timestamp: int | None = None,
        readonly: bool = False,
        **fields,
    ) -> int:
        """Connect a client (connected `age` seconds ago unless a timestamp is
        given; 0 is libvirt's "not known"); fields are its client info by
        libvirt's names. Returns its id."""
        clients = self.server(server)["clients"]
        number = TRANSPORT_NUMBERS[transport]
        client_id = self._next_client_id.get(server, 1)
        self._next_client_id[server] = client_id + 1
        self.clients_of(server).append(
            {
                "id": client_id,
                "timestamp": int(time.time()) - age if timestamp is None else timestamp,
                "transport": number,
                "info": client_info(number, readonly, **fields),
            }
        )
        clients["nclients"] += 1
        return client_id

    def clients_of(self, server: str) -> list:
        """The server's clients as the daemon holds them (the list itself)."""
        return self.client_lists.setdefault(server, [])

    def client_ids(self, server: str) -> list:
        return [client["id"] for client in self.clients_of(server)]

    def remove_client(self, server: str, client_id: int) -> bool:
        """Disconnect a client; False when it was gone already. Dropping a
        connection's own admin client drops that connection."""
        clients = self.clients_of(server)
        for index, client in enumerate(clients):
            if client["id"] == client_id:
                del clients[index]
                self.server(server)["clients"]["nclients"] -= 1
                if server == ADMIN_SERVER:
                    for conn in self.connections:
                        conn.dropped = conn.dropped or (not conn.closed and conn.own_client_id == client_id)
                return True
        return False

    def leave_after_listing(self, server: str, ids) -> None:
        """Make these clients disconnect on their own right after the server's next listing."""
        self._leaving.setdefault(server, set()).update(ids)

    def listing(self, server: str) -> list:
        """The server's clients as a listing gives them; those leave_after_listing names leave then."""
        self.server(server)
        listed = [
            AdminClient(server, client["id"], client["timestamp"], client["transport"])
            for client in self.clients_of(server)
        ]
        for client_id in sorted(self._leaving.pop(server, set())):
            self.remove_client(server, client_id)
        return listed

    def client(self, server: str, client_id: int) -> dict:
        """A connected client; libvirt's ERR_NO_CLIENT for one that has left."""
        for client in self.clients_of(server):
            if client["id"] == client_id:
                return client
        raise LibvirtAdminError(f"Client not found: No client with matching ID '{client_id}'", ERR_NO_CLIENT)

    def update_tls_files(self, server: str) -> None:
        """virNetServerUpdateTlsFiles: only a server with a TLS listener can reload."""
        self.server(server)
        if server in self.without_tls:
            raise LibvirtAdminError(NO_TLS_SERVICE.message, NO_TLS_SERVICE.code)
        self.tls_reloads[server] = self.tls_reloads.get(server, 0) + 1

    def settings(self, server: str) -> tuple:
        """(minWorkers, maxWorkers, prioWorkers) as the daemon holds them."""
        pool = self.servers[server]["threadpool"]
        return tuple(pool[field] for field in THREADPOOL_FIELDS)

    # The daemon's side of each call.

    def record(self, name: str, *args) -> None:
        self.calls.append((name, *copy.deepcopy(args)))
        error = self._planned.pop((name, sum(1 for call in self.calls if call[0] == name)), None)
        if error is not None:
            raise LibvirtAdminError(error.message, error.code)

    def server(self, name: str) -> dict:
        if name not in self.servers:
            raise LibvirtAdminError(f"Server not found: No server named '{name}'", ERR_NO_SERVER)
        return self.servers[name]

    def read_threadpool(self, server: str) -> dict:
        pool = dict(self.server(server)["threadpool"])
        lag = self._prio_lag.get(server)
        if lag:
            pool["prioWorkers"] = lag[0]
            lag[1] -= 1
            if lag[1] <= 0:
                del self._prio_lag[server]
        return {field: pool[field] for field in POOL_FIELDS}

    def set_threadpool(self, server: str, values: dict) -> None:
        pool = self.server(server)["threadpool"]
        _check_fields(values, THREADPOOL_FIELDS)
        new_min, new_max = values.get("minWorkers", -1), values.get("maxWorkers", -1)
        if (new_min if new_min >= 0 else pool["minWorkers"]) > (new_max if new_max >= 0 else pool["maxWorkers"]):
            raise _invalid("minWorkers cannot be larger than maxWorkers")
        if (new_max == 0 and pool["maxWorkers"] > 0) or (new_max > 0 and pool["maxWorkers"] == 0):
            raise _invalid("maxWorkers must not be switched from zero to non-zero and vice versa")
        if "minWorkers" in values:
            self._step("min")
            started = max(new_min - pool["nWorkers"], 0)
            pool["nWorkers"] += started
            pool["freeWorkers"] += started
            pool["minWorkers"] = new_min
        if "maxWorkers" in values:
            self._step("max")
            pool["maxWorkers"] = new_max
            leaving = min(max(pool["nWorkers"] - new_max, 0), pool["freeWorkers"])
            pool["nWorkers"] -= leaving
            pool["freeWorkers"] -= leaving
        if "prioWorkers" in values:
            self._step("prio")
            if values["prioWorkers"] < pool["prioWorkers"] and self.prio_lag_reads:
                self._prio_lag[server] = [pool["prioWorkers"], self.prio_lag_reads]
            pool["prioWorkers"] = values["prioWorkers"]

    def _step(self, step: str) -> None:
        if self.fail_at == step:
            raise LibvirtAdminError(THREAD_ERROR.message, THREAD_ERROR.code)

    def set_client_limits(self, server: str, values: dict) -> None:
        clients = self.server(server)["clients"]
        _check_fields(values, CLIENT_LIMIT_FIELDS)
        merged = {**clients, **values}
        if merged["nclients_max"] < merged["nclients_unauth_max"]:
            raise _invalid(
                "The overall maximum number of clients waiting for authentication must not be less than "
                "the overall maximum number of clients"
            )
        clients.update(values)


def _check_fields(values: dict, allowed: tuple) -> None:
    for field in values:
        if field not in allowed:
            raise LibvirtAdminError(
                f"argument unsupported: parameter '{field}' not supported", ERR_ARGUMENT_UNSUPPORTED
            )


class FakeAdminConnection(AdminConnection):
    """One connection to a FakeDaemon (a fresh libvirtd 9.0 unless one is given)."""

    backend = "fake"

    def __init__(
        self, uri: str | None = None, daemon: FakeDaemon | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__(uri, timeout)
        self.daemon = daemon if daemon is not None else FakeDaemon()
        if self.daemon.connect_error is not None:
            error = self.daemon.connect_error
            raise LibvirtAdminError(error.message, error.code)
        self.opened_uri = uri
        self._uri = uri if uri is not None else self.daemon.default_uri
        self.calls: list = []
        self.closed = False
        self.dropped = False  # the daemon closed this connection (its own admin client was disconnected)
        self.own_client_id: int | None = None
        if ADMIN_SERVER in self.daemon.servers:
            self.own_client_id = self.daemon.add_client(ADMIN_SERVER, "unix", age=0, unix_process_id=os.getpid())
        self.daemon.connections.append(self)

    def reopen(self) -> FakeAdminConnection:
        return self.daemon.connect(self.requested_uri, timeout=self.timeout)

    def close(self) -> None:
        self.calls.append(("close",))
        if not self.closed:
            self.closed = True
            if self.own_client_id is not None:
                self.daemon.remove_client(ADMIN_SERVER, self.own_client_id)

    def _call(self, name: str, *args) -> None:
        self.calls.append((name, *copy.deepcopy(args)))
        if self.closed:
            raise LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG)
        if self.dropped:
            raise LibvirtAdminError(SOCKET_CLOSED.message, SOCKET_CLOSED.code)
        self.daemon.record(name, *args)

    def uri(self) -> str:
        self._call("uri")
        return self._uri

    def daemon_version(self) -> int:
        self._call("daemon_version")
        return self.daemon.version

    def library_version(self) -> int:
        self._call("library_version")
        return 9000000

    def list_servers(self) -> list:
        self._call("list_servers")
        return list(self.daemon.servers)

    def get_threadpool(self, server: str) -> dict:
        self._call("get_threadpool", server)
        return self.daemon.read_threadpool(server)

    def set_threadpool(self, server: str, values: dict) -> None:
        self._call("set_threadpool", server, values)
        _check_uints(values)  # the backends' own check, before anything is sent
        self.daemon.set_threadpool(server, values)

    def get_client_limits(self, server: str) -> dict:
        self._call("get_client_limits", server)
        return dict(self.daemon.server(server)["clients"])

    def set_client_limits(self, server: str, values: dict) -> None:
        self._call("set_client_limits", server, values)
        _check_uints(values)
        self.daemon.set_client_limits(server, values)

    @contextmanager
    def clients(self, server: str):
        self._call("clients", server)
        yield self.daemon.listing(server)

    def client_info(self, client: AdminClient) -> dict:
        self._call("client_info", client.server, client.id)
        return copy.deepcopy(self.daemon.client(client.server, client.id)["info"])

    def close_client(self, client: AdminClient) -> None:
        self._call("close_client", client.server, client.id)
        self.daemon.client(client.server, client.id)
        self.daemon.remove_client(client.server, client.id)

    def update_tls_files(self, server: str) -> None:
        self._call("update_tls_files", server)
        self.daemon.update_tls_files(server)

    def get_logging_outputs(self) -> str:
        self._call("get_logging_outputs")
        return self.daemon.log_outputs

    def get_logging_filters(self) -> str:
        self._call("get_logging_filters")
        return self.daemon.log_filters

    def set_logging_outputs(self, outputs: str) -> None:
        self._call("set_logging_outputs", outputs)
        self.daemon.log_outputs = outputs or "3:stderr"

    def set_logging_filters(self, filters: str) -> None:
        """Stores each match wrapped in '*', as the daemon does."""
        self._call("set_logging_filters", filters)
        stored = [f"{item.split(':', 1)[0]}:*{item.split(':', 1)[1].lstrip('+')}*" for item in filters.split()]
        self.daemon.log_filters = " ".join(stored) + (" " if stored else "")

    def set_daemon_timeout(self, seconds: int) -> None:
        self._call("set_daemon_timeout", seconds)
        self.daemon.daemon_timeout = check_uint("timeout", seconds)

    def daemon_shutdown(self, preserve: bool = False) -> None:
        self._call("daemon_shutdown", preserve)
        self.daemon.shut_down.append(preserve)


def _check_uints(values: dict) -> None:
    for name, value in values.items():
        check_uint(name, value)
