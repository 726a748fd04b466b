"""The admin_watch source's conditions (plugin_utils/_watch.Tracker): an event on each change, never one
per poll; problems seen at the first poll announced, healthy states not; since, duration, repeat."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _servers
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch import Tracker, iso, near_limit
from tests.unit.fake_admin import FakeDaemon, server_state

URI = "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
HEALTHY = server_state((5, 20, 5, 5, 5, 0), (5000, 3, 20, 0))
# Two workers, both busy, three jobs queued: exhausted (and raising max_workers alone starts no worker).
SATURATED = server_state((1, 2, 2, 0, 1, 3), (5000, 5, 20, 0))
# Below max_workers, none free, jobs queued: exhausted too (server_info's rule).
QUEUED_BELOW_MAX = server_state((1, 6, 2, 0, 1, 2), (5000, 5, 20, 0))
NEAR_LIMIT = server_state((5, 20, 5, 5, 5, 0), (10, 9, 5, 0))


def described(state: dict, name: str = "libvirtd") -> dict:
    """What the source hands the tracker: the server as _servers.describe_servers reads it."""
    fake = FakeDaemon({name: state})
    with fake.connect() as conn:
        return _servers.describe_server(conn, name)


def kinds(events: list) -> list:
    return [event["libvirt_admin"]["type"] for event in events]


def test_exhausted_then_recovered_once_each():
    tracker = Tracker()
    seen = []
    for now, state in enumerate([HEALTHY, SATURATED, SATURATED, SATURATED, HEALTHY, HEALTHY], start=100):
        seen.append(kinds(tracker.server("h1", "libvirtd", URI, described(state), float(now))))
    assert seen == [[], ["exhausted"], [], [], ["recovered"], []]


def test_the_exhausted_rule_is_server_infos():
    assert described(QUEUED_BELOW_MAX)["exhausted"] is True
    events = Tracker().server("h1", "libvirtd", URI, described(QUEUED_BELOW_MAX), 1.0)
    assert kinds(events) == ["exhausted"]


def test_a_problem_at_the_first_poll_is_announced_a_healthy_state_is_not():
    assert kinds(Tracker().server("h1", "libvirtd", URI, described(HEALTHY), 1.0)) == []
    assert kinds(Tracker().server("h1", "libvirtd", URI, described(SATURATED), 1.0)) == ["exhausted"]
    assert kinds(Tracker().daemon_down("h1", "libvirtd", URI, "no socket", 1.0)) == ["daemon_down"]
    assert kinds(Tracker().daemon_up("h1", "libvirtd", URI, [], 1.0)) == []
    assert kinds(Tracker().host_unreachable("h1", "refused", 1.0, 1, 1.0)) == ["host_unreachable"]
    assert kinds(Tracker().host_reachable("h1", 1.0)) == []


def test_event_carries_host_daemon_uri_server_numbers_and_since():
    tracker = Tracker(source="virtops.libvirt_admin.admin_watch")
    tracker.server("h1", "libvirtd", URI, described(HEALTHY), 99.0)
    (event,) = tracker.server("h1", "libvirtd", URI, described(SATURATED), 100.0)
    body = event["libvirt_admin"]
    assert (body["type"], body["host"], body["daemon"], body["uri"], body["server"]) == (
        "exhausted",
        "h1",
        "libvirtd",
        URI,
        "libvirtd",
    )
    assert body["since"] == iso(100.0) == "1970-01-01T00:01:40.000Z"
    assert body["threadpool"] == {
        "min_workers": 1,
        "max_workers": 2,
        "prio_workers": 1,
        "workers": 2,
        "free_workers": 0,
        "job_queue_depth": 3,
        "busy_workers": 2,
    }
    assert body["clients"]["clients"] == 5
    assert body["source"] == "virtops.libvirt_admin.admin_watch"
    assert tracker.server("h1", "libvirtd", URI, described(SATURATED), 101.0) == []
    (ended,) = tracker.server("h1", "libvirtd", URI, described(HEALTHY), 107.5)
    body = ended["libvirt_admin"]
    assert (body["type"], body["ended"], body["duration"]) == ("recovered", "exhausted", 7.5)
    assert body["since"] == iso(107.5)
    assert body["threadpool"]["job_queue_depth"] == 0


def test_since_stays_the_first_sighting_while_the_problem_holds():
    tracker = Tracker(repeat=10.0)
    (first,) = tracker.server("h1", "libvirtd", URI, described(SATURATED), 100.0)
    assert tracker.server("h1", "libvirtd", URI, described(SATURATED), 105.0) == []
    (again,) = tracker.server("h1", "libvirtd", URI, described(SATURATED), 110.0)
    assert again["libvirt_admin"]["repeated"] == 1
    assert again["libvirt_admin"]["since"] == first["libvirt_admin"]["since"] == iso(100.0)
    assert again["libvirt_admin"]["observed"] == iso(110.0)
    assert tracker.server("h1", "libvirtd", URI, described(SATURATED), 119.0) == []
    (third,) = tracker.server("h1", "libvirtd", URI, described(SATURATED), 120.0)
    assert third["libvirt_admin"]["repeated"] == 2


def test_without_repeat_a_lasting_problem_is_announced_once():
    tracker = Tracker()
    events = []
    for now in range(1000):
        events += tracker.server("h1", "libvirtd", URI, described(SATURATED), float(now))
    assert kinds(events) == ["exhausted"]


@pytest.mark.parametrize(
    ("clients", "limit", "ratio", "near"),
    [(9, 10, 0.9, True), (8, 10, 0.9, False), (10, 10, 0.9, True), (5, 10, 0.5, True), (0, 0, 0.9, False)],
)
def test_near_limit_is_clients_at_ratio_of_max(clients, limit, ratio, near):
    assert near_limit({"clients": clients, "max_clients": limit}, ratio) is near


def test_clients_near_limit_then_ok():
    tracker = Tracker(clients_ratio=0.9)
    seen = [
        kinds(tracker.server("h1", "libvirtd", URI, described(state), float(now)))
        for now, state in enumerate([HEALTHY, NEAR_LIMIT, NEAR_LIMIT, HEALTHY])
    ]
    assert seen == [[], ["clients_near_limit"], [], ["clients_ok"]]
    (event,) = Tracker(clients_ratio=0.9).server("h1", "libvirtd", URI, described(NEAR_LIMIT), 1.0)
    assert event["libvirt_admin"]["clients_ratio"] == 0.9
    assert event["libvirt_admin"]["clients"] == {
        "max_clients": 10,
        "clients": 9,
        "max_unauth_clients": 5,
        "unauth_clients": 0,
    }


def test_both_problems_of_one_server_are_independent():
    both = server_state((1, 2, 2, 0, 1, 3), (10, 9, 5, 0))
    tracker = Tracker()
    assert kinds(tracker.server("h1", "libvirtd", URI, described(both), 1.0)) == ["exhausted", "clients_near_limit"]
    assert kinds(tracker.server("h1", "libvirtd", URI, described(NEAR_LIMIT), 2.0)) == ["recovered"]


def test_servers_daemons_and_hosts_are_kept_apart():
    tracker = Tracker()
    assert kinds(tracker.server("h1", "libvirtd", URI, described(SATURATED), 1.0)) == ["exhausted"]
    assert kinds(tracker.server("h2", "libvirtd", URI, described(SATURATED), 1.0)) == ["exhausted"]
    assert kinds(tracker.server("h1", "virtqemud", URI, described(SATURATED), 1.0)) == ["exhausted"]
    assert kinds(tracker.server("h1", "libvirtd", URI, described(HEALTHY, "admin"), 1.0)) == []
    assert kinds(tracker.server("h1", "libvirtd", URI, described(HEALTHY), 2.0)) == ["recovered"]
    assert kinds(tracker.server("h2", "libvirtd", URI, described(SATURATED), 2.0)) == []


def test_daemon_down_and_up_and_what_changed_meanwhile():
    tracker = Tracker()
    assert kinds(tracker.daemon_up("h1", "libvirtd", URI, [described(SATURATED)], 1.0)) == ["exhausted"]
    (down,) = tracker.daemon_down("h1", "libvirtd", URI, "Failed to connect socket: Connection refused", 2.0)
    assert down["libvirt_admin"]["error"] == "Failed to connect socket: Connection refused"
    assert "server" not in down["libvirt_admin"]
    assert tracker.daemon_down("h1", "libvirtd", URI, "still refused", 3.0) == []
    # Back with its config file's pool: the exhaustion ended while it was down.
    events = tracker.daemon_up("h1", "libvirtd", URI, [described(HEALTHY)], 4.0)
    assert kinds(events) == ["daemon_up", "recovered"]
    assert events[0]["libvirt_admin"]["duration"] == 2.0


def test_host_unreachable_and_back():
    tracker = Tracker()
    (gone,) = tracker.host_unreachable("h1", "ssh: connect to host 127.0.0.9 port 22: Connection refused", 5.0, 1, 1.1)
    body = gone["libvirt_admin"]
    assert (body["type"], body["host"], body["attempts"], body["retry_in"]) == ("host_unreachable", "h1", 1, 1.1)
    assert "daemon" not in body
    assert tracker.host_unreachable("h1", "refused", 6.0, 2, 2.2) == []
    (back,) = tracker.host_reachable("h1", 9.0)
    assert (back["libvirt_admin"]["type"], back["libvirt_admin"]["duration"]) == ("host_reachable", 4.0)
    assert tracker.host_reachable("h1", 10.0) == []
