# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The admin_watch event source's conditions: what each poll saw, turned into events on changes only.

Conditions come in pairs, a problem and its end:

    per server:  exhausted / recovered             server_info's `exhausted` (_servers.is_exhausted)
                 clients_near_limit / clients_ok   clients >= ratio * max_clients
    per daemon:  daemon_down / daemon_up           its admin socket does not answer / answers again
    per host:    host_unreachable / host_reachable  (fleet mode) its SSH session cannot be opened / is back

A problem seen at the first poll is announced (the watch assumes nothing was wrong before it started);
a healthy state seen at the first poll is not. While a host is unreachable or a daemon down, what
was known of its daemons and servers is kept, so the poll after it is back announces only what
changed meanwhile. With `repeat` seconds, a problem that still holds is announced again that often
(`repeated` counts how many times); otherwise every event is a change.

Tracker is plain code (no I/O, no clock of its own): the caller passes each poll's time.
"""

from __future__ import annotations

import datetime

EVENT_KEY = "libvirt_admin"
PAIRS = {
    "exhausted": "recovered",
    "clients_near_limit": "clients_ok",
    "daemon_down": "daemon_up",
    "host_unreachable": "host_reachable",
}


def iso(seconds: float) -> str:
    """A time.time() value as ISO 8601 in UTC, to the millisecond (2026-05-01T10:00:00.123Z)."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def near_limit(clients: dict, ratio: float) -> bool:
    """clients at or above ratio of max_clients (a server without a limit, 0, is never near it)."""
    limit = clients.get("max_clients") or 0
    return limit > 0 and (clients.get("clients") or 0) >= ratio * limit


class Condition:
    """One problem's state for one thing (a server, a daemon, a host): None until first seen."""

    __slots__ = ("announced", "bad", "repeated", "since")

    def __init__(self) -> None:
        self.bad: bool | None = None
        self.since: float | None = None  # when the current state was first seen
        self.announced: float | None = None  # when the current problem was last announced
        self.repeated = 0

    def update(self, bad: bool, now: float, repeat: float) -> str | None:
        """Record what this poll saw: "start" (a problem began), "end" (it ended), "again" (it holds and
        is due to be announced again), or None (nothing to say)."""
        previous = self.bad
        if previous is None or previous != bad:
            self.bad, self.since, self.repeated = bad, now, 0
            if bad:
                self.announced = now
                return "start"
            self.announced = None
            return "end" if previous else None
        if bad and repeat > 0 and self.announced is not None and now - self.announced >= repeat:
            self.announced = now
            self.repeated += 1
            return "again"
        return None


class Tracker:
    """Every condition the watch knows, keyed by host, daemon and server; events out of each poll."""

    def __init__(self, clients_ratio: float = 0.9, repeat: float = 0.0, source: str = "") -> None:
        self.clients_ratio = clients_ratio
        self.repeat = repeat
        self.source = source
        self.conditions: dict = {}  # (kind, host, daemon, server) -> Condition

    def _condition(self, key: tuple) -> Condition:
        found = self.conditions.get(key)
        if found is None:
            found = self.conditions[key] = Condition()
        return found

    def _observe(self, kind: str, key: tuple, bad: bool, now: float, details: dict) -> list:
        condition = self._condition((kind, *key))
        problem_since = condition.since if condition.bad else None
        change = condition.update(bad, now, self.repeat)
        if change is None:
            return []
        host, daemon, server = key
        event = {"type": kind if change != "end" else PAIRS[kind], "host": host}
        if daemon is not None:
            event.update(daemon=daemon, uri=details.get("uri"))
        if server is not None:
            event["server"] = server
        event.update(since=iso(condition.since), observed=iso(now))
        if change == "end":
            event.update(ended=kind, duration=round(now - problem_since, 3))
        if change == "again":
            event["repeated"] = condition.repeated
        event.update({name: value for name, value in details.items() if name != "uri"})
        if self.source:
            event["source"] = self.source
        return [{EVENT_KEY: event}]

    # What a poll can report.

    def server(self, host: str, daemon: str, uri: str, described: dict, now: float) -> list:
        """One server as _servers.describe_servers() describes it: its exhausted and client conditions."""
        key = (host, daemon, described["name"])
        numbers = {"uri": uri, "threadpool": described["threadpool"], "clients": described["clients"]}
        events = self._observe("exhausted", key, bool(described["exhausted"]), now, numbers)
        near = near_limit(described["clients"], self.clients_ratio)
        events += self._observe("clients_near_limit", key, near, now, {**numbers, "clients_ratio": self.clients_ratio})
        return events

    def daemon_up(self, host: str, daemon: str, uri: str, servers: list, now: float) -> list:
        """A daemon answered: daemon_up if it was down, then each of its servers' conditions."""
        events = self._observe("daemon_down", (host, daemon, None), False, now, {"uri": uri})
        for described in servers:
            events += self.server(host, daemon, uri, described, now)
        return events

    def daemon_down(self, host: str, daemon: str, uri: str, error: str, now: float) -> list:
        """A daemon's admin socket did not answer (error says how)."""
        return self._observe("daemon_down", (host, daemon, None), True, now, {"uri": uri, "error": error})

    def host_unreachable(self, host: str, error: str, now: float, attempts: int, retry_in: float) -> list:
        details = {"error": error, "attempts": attempts, "retry_in": round(retry_in, 3)}
        return self._observe("host_unreachable", (host, None, None), True, now, details)

    def host_reachable(self, host: str, now: float) -> list:
        return self._observe("host_unreachable", (host, None, None), False, now, {})

    def forget_host(self, host: str) -> None:
        """Drop everything known of a host (it left the inventory)."""
        self.conditions = {key: value for key, value in self.conditions.items() if key[1] != host}
