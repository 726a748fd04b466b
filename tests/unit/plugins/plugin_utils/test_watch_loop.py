"""The admin_watch source's loop (plugin_utils/_watch_loop) with a fake queue: a task per host on a
schedule, events only on changes, a host that drops reported once and retried with backoff while the
others go on, and the arguments checked against the source's schema."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_loop
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._ssh_relay import SessionError
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch import Tracker
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch_hosts import LocalHost
from tests.unit.fake_admin import FakeDaemon
from tests.unit.plugins.plugin_utils.watch_helpers import FakeQueue, settings

URI = "libvirtd:///system?socket=/tmp/x/libvirt-admin-sock"
INTERVAL = 0.02


def saturate(fake: FakeDaemon) -> None:
    fake.servers["libvirtd"]["threadpool"].update(
        minWorkers=1, maxWorkers=2, nWorkers=2, freeWorkers=0, jobQueueDepth=3
    )


def relieve(fake: FakeDaemon) -> None:
    fake.servers["libvirtd"]["threadpool"].update(
        minWorkers=6, maxWorkers=20, nWorkers=6, freeWorkers=2, jobQueueDepth=0
    )


async def run_for(watch: _watch_loop.Watch, steps: list) -> None:
    """Run the watch while each step (seconds to wait, then a function) happens, then cancel it."""
    task = asyncio.create_task(watch.run())
    for wait, step in steps:
        await asyncio.sleep(wait)
        step()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_an_exhausted_pool_raised_gives_exhausted_then_recovered_once(fake: FakeDaemon):
    queue = FakeQueue()
    config = settings(uris=[URI], interval=INTERVAL)
    watch = _watch_loop.Watch(queue, [LocalHost("localhost", config, [URI], connect=fake.connect)], config, Tracker())
    asyncio.run(run_for(watch, [(0.1, lambda: saturate(fake)), (0.2, lambda: relieve(fake)), (0.2, lambda: None)]))
    assert queue.kinds() == ["exhausted", "recovered"]
    assert watch.polls >= 15  # polled all along (0.5 s at 0.02 s), saying nothing in between
    assert len(fake.connections) == 1 and fake.connections[0].closed  # one connection, closed at the end


def test_a_host_that_drops_is_reported_once_retried_and_back_while_others_go_on(fake: FakeDaemon):
    class Flaky(LocalHost):
        local = False

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.down = False
            self.attempts = 0

        def poll(self, now: float) -> list:
            if self.down:
                self.attempts += 1
                raise SessionError("ssh: connect to host 127.0.0.9 port 22: Connection refused")
            return super().poll(now)

    queue = FakeQueue()
    config = settings(uris=[URI], interval=INTERVAL, reconnect_min=0.02, reconnect_max=0.08)
    other = FakeDaemon()
    flaky = Flaky("h1", config, [URI], connect=fake.connect)
    steady = LocalHost("h2", config, [URI], connect=other.connect)
    watch = _watch_loop.Watch(queue, [flaky, steady], config, Tracker())

    def drop():
        flaky.down = True

    def back():
        flaky.down = False
        saturate(other)

    asyncio.run(run_for(watch, [(0.1, drop), (0.6, back), (0.2, lambda: None)]))
    by_host = {}
    for event in queue.events:
        by_host.setdefault(event["libvirt_admin"]["host"], []).append(event["libvirt_admin"]["type"])
    assert by_host == {"h1": ["host_unreachable", "host_reachable"], "h2": ["exhausted"]}
    unreachable = queue.events[0]["libvirt_admin"]
    assert unreachable["attempts"] == 1 and "Connection refused" in unreachable["error"]
    # Backoff: 0.02, 0.04, 0.08, 0.08 ... s over 0.6 s is about 8 attempts, not the 30 polls of the interval.
    assert 4 <= flaky.attempts <= 14, flaky.attempts


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"intervall": 1}, "unknown argument(s) intervall"),
        ({"interval": 0}, "interval must be more than 0"),
        ({"interval": "fast"}, "interval must be a number"),
        ({"clients_ratio": 1.5}, "clients_ratio must be at most 1"),
        ({"backend": "ctypes"}, "backend must be one of auto, library, protocol"),
        ({"uris": [1]}, "uris must be a list of strings"),
        ({"reconnect_min": 10, "reconnect_max": 5}, "reconnect_max must not be less than reconnect_min"),
        ({"uris": [URI], "inventory": "hosts.yml"}, "not both"),
        ({"repeat": True}, "repeat must be a number"),
    ],
)
def test_wrong_arguments_fail_saying_which(args, error):
    with pytest.raises(_watch_loop.ArgumentError, match=None) as raised:
        settings(**args)
    assert error in str(raised.value)


def test_arguments_get_defaults_and_strings_from_env_vars_are_converted():
    config = settings(interval="0.5", repeat="30", daemons="libvirtd, virtqemud", eda_feedback_queue=object())
    assert (config.interval, config.repeat, config.daemons) == (0.5, 30.0, ["libvirtd", "virtqemud"])
    defaults = settings()
    assert (defaults.interval, defaults.clients_ratio, defaults.inventory, defaults.hosts) == (1.0, 0.9, "", "all")
    assert (defaults.timeout, defaults.reconnect_min, defaults.reconnect_max, defaults.repeat) == (5.0, 1.0, 30.0, 0.0)
    assert settings(interval=2).interval == 2.0 and isinstance(settings(interval=2).interval, float)


def test_a_host_that_hangs_holds_up_no_other(fake: FakeDaemon):
    """Each host has its own thread: one whose poll hangs (a daemon that does not answer within its
    timeout) does not delay the polls of the others."""

    class Hanging(LocalHost):
        def poll(self, now: float) -> list:
            time.sleep(0.4)
            return super().poll(now)

    config = settings(uris=[URI], interval=INTERVAL)
    stuck = Hanging("h1", config, [URI], connect=fake.connect)
    other = LocalHost("h2", config, [URI], connect=FakeDaemon().connect)
    watch = _watch_loop.Watch(FakeQueue(), [stuck, other], config, Tracker())
    asyncio.run(run_for(watch, [(0.5, lambda: None)]))
    assert watch.counts.get("h1", 0) <= 2 and watch.counts["h2"] >= 12, watch.counts


def test_a_bug_in_a_hosts_poll_ends_the_source_saying_so(fake: FakeDaemon):
    class Broken(LocalHost):
        def poll(self, now: float) -> list:
            raise ZeroDivisionError("a bug")

    config = settings(uris=[URI], interval=INTERVAL)
    watch = _watch_loop.Watch(FakeQueue(), [Broken("h1", config, [URI], connect=fake.connect)], config, Tracker())
    with pytest.raises(ZeroDivisionError, match="a bug"):
        asyncio.run(asyncio.wait_for(watch.run(), 5))


def test_control_folders_of_gone_watches_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(_watch_loop.tempfile, "tempdir", str(tmp_path))
    gone = tmp_path / "admin-watch-999999999-abc"  # no such pid
    gone.mkdir()
    (gone / "host01.sock").write_text("")
    mine_before = tmp_path / f"admin-watch-{os.getpid()}-old"
    mine_before.mkdir()
    other = tmp_path / "admin-watchers"
    other.mkdir()
    made = _watch_loop.make_control_dir()
    assert not gone.exists() and mine_before.exists() and other.exists()
    assert os.path.basename(made).startswith(f"admin-watch-{os.getpid()}-") and os.stat(made).st_mode & 0o777 == 0o700
