# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The admin_watch event source's loop: its arguments, its hosts, and one asyncio task per host.

Each host has a thread of its own, which wakes every interval (the hosts' phases spread evenly over
the interval, so that a large fleet's polls do not all fall on the same instant), runs the host's
blocking poll(), hands what it saw to the Tracker (shared, behind a lock) and, when there are
events, puts them on ansible-rulebook's asyncio queue through the event loop
(run_coroutine_threadsafe, waiting while the queue is full). The event loop does nothing per poll,
and never blocks: ansible-rulebook runs its rules in it. A host that hangs holds only its own
thread. A host whose session cannot be opened is retried with backoff (jittered, doubling up to
reconnect_max); its thread never ends on its own, and neither does the source.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._ssh_relay import SessionError
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch import Tracker
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch_hosts import (
    Backoff,
    LocalHost,
    RemoteHost,
    message,
)


class ArgumentError(ValueError):
    """The source's arguments are wrong; the message says which and how."""


_TYPES = {"integer": int, "number": float, "boolean": bool, "string": str, "array": list}


def _coerce(name: str, value, rule: dict):
    """value as rule's JSON Schema type wants it (strings from --env-vars converted), or ArgumentError."""
    kind = rule["type"]
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        value = value.lower() in ("true", "yes", "1")
    elif kind in ("integer", "number") and isinstance(value, str):
        try:
            value = float(value) if kind == "number" else int(value)
        except ValueError:
            raise ArgumentError(f"{name} must be a {kind}, got {value!r}") from None
    elif kind == "array" and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, _TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        raise ArgumentError(f"{name} must be a{'n' if kind[0] in 'aeiou' else ''} {kind}, got {value!r}")
    if kind == "array":
        if not all(isinstance(item, str) for item in value):
            raise ArgumentError(f"{name} must be a list of strings, got {value!r}")
        value = list(value)
    for bound, test in (("minimum", lambda v, b: v >= b), ("exclusiveMinimum", lambda v, b: v > b)):
        if bound in rule and not test(value, rule[bound]):
            relation = "at least" if bound == "minimum" else "more than"
            raise ArgumentError(f"{name} must be {relation} {rule[bound]}, got {value!r}")
    if "maximum" in rule and value > rule["maximum"]:
        raise ArgumentError(f"{name} must be at most {rule['maximum']}, got {value!r}")
    if "enum" in rule and value not in rule["enum"]:
        raise ArgumentError(f"{name} must be one of {', '.join(map(str, rule['enum']))}, got {value!r}")
    return value


def validate(args: dict, schema: dict) -> dict:
    """The arguments checked against the source's JSON Schema (schemas/admin_watch.json), defaults
    filled in. ansible-rulebook's own keys (eda_*) are left out."""
    given = {key: value for key, value in (args or {}).items() if not key.startswith("eda_")}
    properties = schema["properties"]
    unknown = sorted(set(given) - set(properties))
    if unknown:
        takes = ", ".join(sorted(properties))
        raise ArgumentError(f"unknown argument(s) {', '.join(unknown)}; the source takes {takes}")
    settled = {}
    for name, rule in properties.items():
        value = given.get(name)
        if value is None or (value == "" and rule["type"] != "string"):
            settled[name] = rule.get("default")
            continue
        settled[name] = _coerce(name, value, rule)
    if settled["reconnect_max"] < settled["reconnect_min"]:
        raise ArgumentError("reconnect_max must not be less than reconnect_min")
    if settled["uris"] and settled["inventory"]:
        raise ArgumentError("give uris (this machine's daemons) or inventory (a fleet's), not both")
    return settled


class Settings:
    """The validated arguments as attributes (see the source's DOCUMENTATION)."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def load_schema(path: str) -> dict:
    return json.loads(Path(path).read_text())


def build_hosts(settings: Settings, control_dir: str) -> list:
    """The hosts to watch: this machine (no inventory), or the inventory's hosts matching the pattern."""
    if not settings.inventory:
        return [LocalHost(settings.host, settings, settings.uris)]
    from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._inventory import fleet

    hosts = []
    logins = threading.BoundedSemaphore(settings.logins)
    for spec in fleet(settings.inventory, settings.hosts):
        if not spec.private_key_file and settings.private_key_file:
            spec.private_key_file = settings.private_key_file
        if spec.local:
            hosts.append(LocalHost(spec.name, settings))
        else:
            hosts.append(RemoteHost(spec, settings, control_dir, logins=logins))
    if not hosts:
        raise ArgumentError(f"no host of the inventory {settings.inventory} matches {settings.hosts!r}")
    return hosts


CONTROL_PREFIX = "admin-watch-"


def make_control_dir() -> str:
    """A folder of this process's own for the SSH control sockets and ssh's messages (a short path: a unix
    socket's is limited to 107 bytes), named after its pid. Those of watches whose process is gone (ended
    by a signal, without cleaning up) are removed first."""
    parent = tempfile.gettempdir()
    for name in os.listdir(parent):
        pid = name[len(CONTROL_PREFIX) :].split("-", 1)[0]
        path = os.path.join(parent, name)
        if not name.startswith(CONTROL_PREFIX) or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
    return tempfile.mkdtemp(prefix=f"{CONTROL_PREFIX}{os.getpid()}-")


class Watch:
    """The hosts of one run of the source, a thread each, and the tracker they share."""

    def __init__(self, queue, hosts: list, settings: Settings, tracker: Tracker) -> None:
        self.queue = queue
        self.hosts = hosts
        self.settings = settings
        self.tracker = tracker
        self.lock = threading.Lock()  # the tracker's
        self.stop = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.failure: BaseException | None = None
        self.ended: asyncio.Future | None = None
        self.counts: dict = {}  # host name -> polls done (the benchmark and the tests read them)

    @property
    def polls(self) -> int:
        return sum(self.counts.values())

    def _put(self, events: list) -> None:
        """Hand events to the queue from a host's thread, waiting while the queue is full (its backpressure)."""
        for event in events:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(event), self.loop)
            while not self.stop.is_set():
                try:
                    future.result(timeout=0.5)
                    break
                except concurrent.futures.TimeoutError:
                    continue
            else:
                future.cancel()
                return

    def _observe(self, host, results: list, now: float) -> list:
        with self.lock:
            events = [] if host.local else self.tracker.host_reachable(host.name, now)
            for daemon, servers, error in results:
                if error is None:
                    events += self.tracker.daemon_up(host.name, daemon.name, daemon.uri, servers, now)
                else:
                    events += self.tracker.daemon_down(host.name, daemon.name, daemon.uri, error, now)
        return events

    def _watch_host(self, host, offset: float) -> None:
        """A host's thread: poll it every interval (its phase offset into the interval), until stopped."""
        interval = self.settings.interval
        backoff = Backoff(self.settings.reconnect_min, self.settings.reconnect_max)
        due = time.monotonic() + offset
        while not self.stop.wait(max(0.0, due - time.monotonic())):
            now = time.time()
            try:
                results = host.poll(now)
            except SessionError as error:
                delay = backoff.fail()
                with self.lock:
                    events = self.tracker.host_unreachable(host.name, message(error), now, backoff.failures, delay)
                self._put(events)
                due = time.monotonic() + delay
                continue
            self.counts[host.name] = self.counts.get(host.name, 0) + 1
            backoff.reset()
            self._put(self._observe(host, results, now))
            due += interval
            late = time.monotonic() - due
            if late > 0:  # the poll took longer than the interval: skip the ticks it missed
                due += interval * math.ceil(late / interval)

    def _thread(self, host, offset: float) -> None:
        try:
            self._watch_host(host, offset)
        except BaseException as error:  # a bug: end the source saying so, rather than stop watching in silence
            if not self.stop.is_set():
                self.failure = error
                self.loop.call_soon_threadsafe(self._end)

    def _end(self) -> None:
        if self.ended is not None and not self.ended.done():
            self.ended.set_result(None)

    async def run(self) -> None:
        """Watch until cancelled (or until a host's thread fails: its error is raised here)."""
        self.loop = asyncio.get_running_loop()
        self.ended = self.loop.create_future()
        count = len(self.hosts)
        threads = [
            threading.Thread(
                target=self._thread,
                args=(host, self.settings.interval * index / count),
                name=f"admin_watch {host.name}",
                daemon=True,
            )
            for index, host in enumerate(self.hosts)
        ]
        for thread in threads:
            thread.start()
        try:
            await self.ended
            if self.failure is not None:
                raise self.failure
        finally:
            self.stop.set()
            await self.loop.run_in_executor(None, self._join, threads)

    def _join(self, threads: list) -> None:
        """Stop: every host's thread ends at its next wait (a call in progress ends within its timeout)."""
        deadline = time.monotonic() + self.settings.timeout + 1
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.close()

    def close(self) -> None:
        for host in self.hosts:
            host.close()


async def watch(queue, args: dict, schema_path: str, source: str = "") -> None:
    """Run the source until cancelled: validate args, build the hosts, poll them for ever."""
    settings = Settings(validate(args, load_schema(schema_path)))
    control_dir = make_control_dir()
    try:
        loop = asyncio.get_running_loop()
        hosts = await loop.run_in_executor(None, build_hosts, settings, control_dir)
        tracker = Tracker(settings.clients_ratio, settings.repeat, source)
        await Watch(queue, hosts, settings, tracker).run()
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)
