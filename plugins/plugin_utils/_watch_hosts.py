# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The admin_watch event source's hosts: each one's daemons, polled over long-lived admin connections.

A host's poll() is blocking (the admin calls are), so the event source runs it in a worker thread,
one call at a time per host. Each daemon keeps one admin connection open from poll to poll (opening
one is the costly part). The first poll over a connection reads every server with
_servers.describe_servers(conn, None), the very reading libvirt_admin_server_info makes, exhausted
rule included; the next ones describe the same servers (_servers.describe_server, two calls each:
worker pool and client limits) without listing them again, since a daemon's servers are fixed for
its life and a restarted daemon is a new connection.

- LocalHost: the daemons of the machine the source runs on, found as server_info's discovery finds
  them (_discovery.discover()) or given as admin URIs, reached with open_connection() (the library,
  or the protocol backend where the library is missing).
- RemoteHost: a managed host's daemons, found by the host's own Python and reached through the
  host's one SSH session (_ssh_relay), spoken to with the protocol backend over the relayed socket.

A daemon that does not answer is reported down and retried with backoff; a RemoteHost whose session
cannot be opened (or ends) raises SessionError from poll(), which the source reports as the host
being unreachable.
"""

from __future__ import annotations

import contextlib
import random
import threading
import urllib.parse

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _admin, _discovery, _protocol, _servers
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._ssh_relay import (
    RelayError,
    SessionError,
    SshSession,
)

# What an admin call can raise: the backends' one error class, and the socket's own errors.
ADMIN_ERRORS = (_admin.LibvirtAdminError, OSError)
SYSTEM_RUN_DIR = "/run/libvirt"


def open_local(uri: str, backend: str = "auto", timeout: float = _admin.DEFAULT_TIMEOUT):
    """An admin connection to a daemon of this machine, by open_connection()'s rules."""
    return _admin.open_connection(uri, backend, timeout)


def open_relayed(uri: str, sock, timeout: float):
    """The protocol backend over sock, a stream socket connected to the daemon's admin socket."""
    return _protocol.ProtocolConnection(uri, timeout=timeout, sock=sock)


def daemon_of(uri: str) -> str:
    """The daemon an admin URI names: libvirtd for libvirtd:///system?socket=..."""
    return urllib.parse.urlsplit(uri).scheme.split("+", 1)[0] or "libvirtd"


def socket_of(uri: str) -> str:
    """The admin socket an admin URI of a system daemon reaches (its ?socket=, else the default path)."""
    parts = urllib.parse.urlsplit(uri)
    given = urllib.parse.parse_qs(parts.query).get("socket")
    if given:
        return given[0]
    daemon = daemon_of(uri)
    prefix = next((prefix for prefix, name in _discovery.PREFIX_DAEMON.items() if name == daemon), daemon)
    return f"{SYSTEM_RUN_DIR}/{prefix}{_discovery.SOCKET_SUFFIX}"


def message(error: BaseException) -> str:
    return getattr(error, "message", None) or str(error) or type(error).__name__


class Backoff:
    """Delays between attempts: first, doubling up to most, with up to 20% jitter (so that hosts which
    failed together do not all come back at the same instant)."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most = first, most
        self.failures = 0

    def fail(self) -> float:
        self.failures += 1
        delay = min(self.most, self.first * 2 ** (self.failures - 1))
        return delay * (1 + 0.2 * random.random())

    def reset(self) -> None:
        self.failures = 0


class Daemon:
    """One daemon of a host: its URI as the host sees it, its admin connection while one is open."""

    def __init__(self, name: str, uri: str, backoff: Backoff) -> None:
        self.name = name
        self.uri = uri
        self.socket_path = socket_of(uri)
        self.conn = None
        self.relay = None
        self.servers: list = []  # the daemon's server names, listed once per connection
        self.backoff = backoff
        self.retry_at = 0.0
        self.calls = 0  # admin calls made (the benchmark reads it)

    def read(self) -> list:
        """Every server of the daemon, as server_info describes them."""
        if not self.servers:
            described = _servers.describe_servers(self.conn, None)
            self.servers = [server["name"] for server in described]
            return described
        return [_servers.describe_server(self.conn, name) for name in self.servers]

    def close(self) -> None:
        self.servers = []
        conn, relay, self.conn, self.relay = self.conn, self.relay, None, None
        if conn is not None:
            with contextlib.suppress(*ADMIN_ERRORS):
                conn.close()
        if relay is not None:
            relay.close()

    def failed(self, now: float) -> None:
        self.close()
        self.retry_at = now + self.backoff.fail()


class CountingConnection:
    """An admin connection that counts the calls made through it (for the benchmark's numbers)."""

    def __init__(self, conn, daemon: Daemon) -> None:
        self._conn, self._daemon = conn, daemon

    def __getattr__(self, name):
        attribute = getattr(self._conn, name)
        if not callable(attribute) or name == "close":
            return attribute

        def counted(*args, **kwargs):
            self._daemon.calls += 1
            return attribute(*args, **kwargs)

        return counted


class Host:
    """What LocalHost and RemoteHost share: the daemons, their discovery and their polls."""

    local = True

    def __init__(self, name: str, settings, uris: list | None = None) -> None:
        self.name = name
        self.settings = settings
        self.uris = list(uris or [])  # given: watch these; none: discover
        self.daemons: dict = {}  # uri -> Daemon, every daemon ever seen (one that vanished is down)
        self.discovered_at: float | None = None

    def _backoff(self) -> Backoff:
        return Backoff(self.settings.reconnect_min, self.settings.reconnect_max)

    def _wanted(self, daemon: str) -> bool:
        return not self.settings.daemons or daemon in self.settings.daemons

    def _merge(self, found: list) -> None:
        for daemon, uri in found:
            if uri not in self.daemons and self._wanted(daemon):
                self.daemons[uri] = Daemon(daemon, uri, self._backoff())

    def _discover(self) -> list:
        raise NotImplementedError

    def _open(self, daemon: Daemon) -> None:
        raise NotImplementedError

    def _still_there(self) -> None:
        """After a daemon failed: raise SessionError if the host itself is gone."""

    def poll(self, now: float) -> list:
        """Every daemon's state now: [(Daemon, servers or None, error or None)]; a daemon waiting for
        its next attempt is left out. Blocking: run it in a worker thread."""
        if self.uris:
            if not self.daemons:
                self._merge([(daemon_of(uri), uri) for uri in self.uris])
        elif self.discovered_at is None or now - self.discovered_at >= self.settings.discover_every:
            self._merge(self._discover())
            self.discovered_at = now
        results = []
        for daemon in list(self.daemons.values()):
            if daemon.conn is None:
                if now < daemon.retry_at:
                    continue
                try:
                    self._open(daemon)
                except RelayError as error:
                    daemon.failed(now)
                    results.append((daemon, None, message(error)))
                    continue
                except ADMIN_ERRORS as error:
                    daemon.failed(now)
                    self._still_there()
                    results.append((daemon, None, message(error)))
                    continue
            try:
                servers = daemon.read()
            except ADMIN_ERRORS as error:
                daemon.failed(now)
                self._still_there()
                results.append((daemon, None, message(error)))
                continue
            daemon.backoff.reset()
            results.append((daemon, servers, None))
        return results

    def close(self) -> None:
        for daemon in self.daemons.values():
            daemon.close()


class LocalHost(Host):
    """The daemons of the machine the source runs on."""

    def __init__(self, name: str, settings, uris: list | None = None, connect=None) -> None:
        super().__init__(name, settings, uris)
        self.connect = connect or (lambda uri: open_local(uri, settings.backend, settings.timeout))

    def _discover(self) -> list:
        return _discovery.discover()

    def _open(self, daemon: Daemon) -> None:
        daemon.conn = CountingConnection(self.connect(daemon.uri), daemon)


class RemoteHost(Host):
    """A managed host's daemons through its SSH session."""

    local = False

    def __init__(self, spec, settings, control_dir: str, uris: list | None = None, connect=None, logins=None) -> None:
        super().__init__(spec.name, settings, uris)
        self.spec = spec
        self.session = SshSession(
            spec, control_dir, timeout=settings.timeout, ssh=settings.ssh, login_timeout=settings.login_timeout
        )
        self.connect = connect or (lambda uri, sock: open_relayed(uri, sock, settings.timeout))
        # Shared by the hosts of a watch: at most so many SSH logins at once (a fleet starting, or coming
        # back after a network outage, would otherwise log in everywhere at the same instant).
        self.logins = logins or threading.BoundedSemaphore(1)

    def _discover(self) -> list:
        return self.session.discover()

    def _open(self, daemon: Daemon) -> None:
        daemon.relay = self.session.relay(daemon.socket_path)
        daemon.conn = CountingConnection(self.connect(daemon.uri, daemon.relay.sock), daemon)

    def _still_there(self) -> None:
        self.session.discover()  # SessionError when the session is gone

    def poll(self, now: float) -> list:
        try:
            if not self.session.alive:
                for daemon in self.daemons.values():  # their relays ended with the old session
                    daemon.close()
                    daemon.retry_at = 0.0
                with self.logins:
                    found = self.session.open()
                if not self.uris:
                    self._merge(found)
                    self.discovered_at = now
            return super().poll(now)
        except SessionError:
            self.close()
            raise

    def close(self) -> None:
        super().close()
        self.session.close()
