"""A fake libvirt daemon behind a fake admin connection, for the unit tests.

FakeAdminConnection has the public interface of _binding.AdminConnection.
FakeDaemon holds what outlives one connection (the servers' state, injected
failures, every call made), so that a second module run sees the first one's
change. The rules and messages are libvirt 9.0's, checked against a real
libvirtd 9.0 through the real binding:

- virThreadPoolSetParameters (src/util/virthreadpool.c): min > max of the
  resulting pair is refused, then a switch of maxWorkers between 0 and
  non-zero; then min is applied (starting workers up to it), then max
  (idle surplus workers exit), then prio, stopping at the first failure;
- virNetServerSetClientLimits: nclients_max below nclients_unauth_max is refused;
- virTypedParamsValidate: unknown fields are refused before any rule.
"""

from __future__ import annotations

import copy

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_INVALID_ARG,
    ERR_NO_SERVER,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
    _uint_params,
)

ERR_ARGUMENT_UNSUPPORTED = 74

# What the daemon reports, in the daemon's order.
POOL_FIELDS = ("minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers", "jobQueueDepth")
CLIENT_FIELDS = ("nclients_max", "nclients", "nclients_unauth_max", "nclients_unauth")


def server_state(pool: tuple, clients: tuple) -> dict:
    """One server's state from values in the order of POOL_FIELDS and CLIENT_FIELDS."""
    return {"threadpool": dict(zip(POOL_FIELDS, pool)), "clients": dict(zip(CLIENT_FIELDS, clients))}


# A fresh libvirtd 9.0 with its compiled-in defaults, as virt-admin reads it
# (the admin server serves the reading connection: one client, one busy worker).
LIBVIRTD_9_0 = {
    "admin": server_state((5, 20, 5, 4, 0, 0), (5000, 1, 0, 0)),
    "libvirtd": server_state((5, 20, 5, 5, 5, 0), (5000, 0, 20, 0)),
}
# virtlogd 9.0: servers without a worker pool, its own server listed first.
VIRTLOGD_9_0 = {
    "virtlogd": server_state((0, 0, 0, 0, 0, 0), (1024, 0, 1024, 0)),
    "admin": server_state((0, 0, 0, 0, 0, 0), (5000, 1, 5000, 0)),
}

THREADPOOL_FIELDS = ("minWorkers", "maxWorkers", "prioWorkers")
CLIENT_LIMIT_FIELDS = ("nclients_max", "nclients_unauth_max")
THREAD_ERROR = LibvirtAdminError("Failed to create thread: Resource temporarily unavailable", ERR_SYSTEM_ERROR)
PERMISSION_DENIED = LibvirtAdminError("Failed to connect socket to '/x': Permission denied", ERR_SYSTEM_ERROR)


def _invalid(text: str) -> LibvirtAdminError:
    return LibvirtAdminError(f"invalid argument: {text}", ERR_INVALID_ARG)


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

    def connect(self, uri: str | None = None) -> FakeAdminConnection:
        """The factory the tests put in place of AdminConnection."""
        return FakeAdminConnection(uri, daemon=self)

    def fail_call(self, name: str, error: LibvirtAdminError, nth: int = 1) -> None:
        """Make the nth call of method `name` from now on raise `error` before doing anything."""
        done = sum(1 for call in self.calls if call[0] == name)
        self._planned[(name, done + nth)] = error

    @property
    def setter_calls(self) -> list:
        return [call for call in self.calls if call[0].startswith("set_")]

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


class FakeAdminConnection:
    """One connection to a FakeDaemon (a fresh libvirtd 9.0 unless one is given)."""

    def __init__(self, uri: str | None = None, daemon: FakeDaemon | None = None) -> None:
        self.daemon = daemon if daemon is not None else FakeDaemon()
        if self.daemon.connect_error is not None:
            error = self.daemon.connect_error
            raise LibvirtAdminError(error.message, error.code)
        self.opened_uri = uri
        self._uri = uri if uri is not None else self.daemon.default_uri
        self.calls: list = []
        self.closed = False
        self.daemon.connections.append(self)

    def __enter__(self) -> FakeAdminConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True

    def _call(self, name: str, *args) -> None:
        self.calls.append((name, *copy.deepcopy(args)))
        if self.closed:
            raise LibvirtAdminError("the admin connection is closed", ERR_INVALID_ARG)
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
        _uint_params(values)  # the binding's own check, before anything is sent
        self.daemon.set_threadpool(server, values)

    def get_client_limits(self, server: str) -> dict:
        self._call("get_client_limits", server)
        return dict(self.daemon.server(server)["clients"])

    def set_client_limits(self, server: str, values: dict) -> None:
        self._call("set_client_limits", server, values)
        _uint_params(values)
        self.daemon.set_client_limits(server, values)
