"""Filter fleet_report: each severity rule at its boundaries, the order of rows and hosts, the counts;
and, against fleet.json.j2 as it was (tests/unit/legacy_fleet_report.py), the same report."""

from __future__ import annotations

import json
import re

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.filter.fleet_report import FilterModule, fleet_report
from tests.unit.legacy_fleet_report import CLIENT_INFO, E2E, SERVER_INFO, e2e_hostvars, legacy_report

GENERATED = "2026-01-31T23:59:00Z"
URI = "libvirtd:///system"


def server(
    name="libvirtd",
    busy=0,
    max_workers=20,
    queue=0,
    exhausted=False,
    clients=0,
    max_clients=5000,
    unauth=0,
    max_unauth=20,
) -> dict:
    """One server as libvirt_admin_server_info returns it."""
    return {
        "name": name,
        "threadpool": {
            "min_workers": 5,
            "max_workers": max_workers,
            "prio_workers": 5,
            "workers": max(busy, 5),
            "free_workers": max(5 - busy, 0),
            "job_queue_depth": queue,
            "busy_workers": busy,
        },
        "clients": {
            "max_clients": max_clients,
            "max_unauth_clients": max_unauth,
            "clients": clients,
            "unauth_clients": unauth,
        },
        "exhausted": exhausted,
    }


def read(*servers, uri=URI, item=None, outputs=("3:stderr",)) -> dict:
    """One loop result of libvirt_admin_server_info that read its daemon."""
    return {
        "changed": False,
        "uri": uri,
        "version": "9.0.0",
        "servers": list(servers),
        "logging": {"outputs": list(outputs), "filters": ["1:rpc"]},
        "__fleet_report_daemon": {"uri": uri} if item is None else item,
        "ansible_loop_var": "__fleet_report_daemon",
    }


def unreadable(msg="Failed to connect socket", item=None, **extra) -> dict:
    result = {
        "failed": True,
        "msg": msg,
        "__fleet_report_daemon": item or {},
        "ansible_loop_var": "__fleet_report_daemon",
    }
    result.update(extra)
    return result


def listed(clients=(), server_name="libvirtd") -> dict:
    return {
        "changed": False,
        "server": server_name,
        "clients": list(clients),
        "ansible_loop_var": "__fleet_report_read",
    }


def skipped() -> dict:
    return {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def host_vars(*results, listings=None) -> dict:
    """A host's variables after the role's two loops; listings: its client_info results (default: one
    successful listing per daemon read, a skipped item per other)."""
    if listings is None:
        listings = [listed() if "servers" in result else skipped() for result in results]
    return {
        SERVER_INFO: {"changed": False, "msg": "All items completed", "results": list(results)},
        CLIENT_INFO: {"changed": False, "msg": "All items completed", "results": list(listings)},
    }


def report(hostvars: dict, hosts=None, **options) -> dict:
    hosts = list(hostvars) if hosts is None else hosts
    options.setdefault("generated", GENERATED)
    return fleet_report(hosts, hostvars, SERVER_INFO, CLIENT_INFO, **options)


def only_row(hostvars: dict, **options) -> dict:
    (row,) = report(hostvars, **options)["servers"]
    return row


def rated(options=None, **settings) -> tuple:
    """(level, flags, problems) of one libvirtd server with these settings."""
    row = only_row({"hv1": host_vars(read(server(**settings)))}, **(options or {}))
    return row["level"], row["flags"], row["problems"]


# --- Worker pool ----------------------------------------------------------------------------------


def test_an_exhausted_pool_is_critical():
    assert rated(busy=1, max_workers=1, queue=3, exhausted=True) == (
        "critical",
        ["exhausted"],
        ["worker pool exhausted: 1/1 workers busy, 3 jobs waiting"],
    )


def test_an_exhausted_pool_below_max_workers_is_critical_too():
    """libvirt starts no worker while jobs are queued: the module says exhausted, the report follows it."""
    level, flags, _problems = rated(busy=5, max_workers=20, queue=2, exhausted=True)
    assert (level, flags) == ("critical", ["exhausted"])


@pytest.mark.parametrize(
    ("busy", "max_workers", "ratio", "expected"),
    [
        (18, 20, 0.9, "warning"),  # exactly at the ratio
        (17, 20, 0.9, "ok"),  # one below
        (20, 20, 0.9, "warning"),  # every worker busy, but not exhausted (more may start)
        (1, 2, 0.5, "warning"),
        (0, 2, 0.5, "ok"),
        (3, 3, 1.0, "warning"),
        (2, 3, 1.0, "ok"),
    ],
)
def test_near_the_worker_limit_from_the_ratio_on(busy, max_workers, ratio, expected):
    level, flags, problems = rated({"worker_warn_ratio": ratio}, busy=busy, max_workers=max_workers)
    assert level == expected
    if expected == "warning":
        assert flags == ["near_worker_limit"]
        assert problems == [f"near the worker limit: {busy}/{max_workers} workers busy"]
    else:
        assert flags == problems == []


def test_a_server_without_worker_pool_is_never_near_its_limit():
    """virtlogd's servers answer in the event loop: max_workers 0."""
    assert rated(busy=0, max_workers=0) == ("ok", [], [])


# --- Clients, unauthenticated clients ----------------------------------------------------------------


@pytest.mark.parametrize(("clients", "expected"), [(10, "critical"), (11, "critical"), (9, "warning"), (8, "ok")])
def test_client_limit(clients, expected):
    level, flags, problems = rated(clients=clients, max_clients=10)
    assert level == expected
    if expected == "critical":
        assert flags == ["client_limit_reached"]
        assert problems == [f"client limit reached: {clients}/10 clients, new clients wait"]
    elif expected == "warning":
        assert (flags, problems) == (["near_client_limit"], ["near the client limit: 9/10 clients"])
    else:
        assert flags == []


def test_near_the_client_limit_follows_client_warn_ratio():
    assert rated({"client_warn_ratio": 0.5}, clients=5, max_clients=10)[1] == ["near_client_limit"]
    assert rated({"client_warn_ratio": 0.5}, clients=4, max_clients=10)[1] == []


@pytest.mark.parametrize(("unauth", "expected"), [(20, "critical"), (18, "warning"), (17, "ok")])
def test_unauthenticated_client_limit(unauth, expected):
    level, flags, problems = rated(unauth=unauth, max_unauth=20)
    assert level == expected
    if expected == "critical":
        assert (flags, problems) == (
            ["unauth_limit_reached"],
            ["unauthenticated client limit reached: 20/20, new clients wait"],
        )
    elif expected == "warning":
        assert (flags, problems) == (["near_unauth_limit"], ["near the unauthenticated client limit: 18/20"])
    else:
        assert flags == []


def test_the_unauthenticated_limit_uses_client_warn_ratio_not_worker_warn_ratio():
    options = {"client_warn_ratio": 0.5, "worker_warn_ratio": 1.0}
    assert rated(options, unauth=10, max_unauth=20)[1] == ["near_unauth_limit"]


def test_a_limit_of_zero_is_no_limit():
    """The admin server has max_unauth_clients 0: no limit, never reached."""
    assert rated(clients=7, max_clients=0, unauth=3, max_unauth=0) == ("ok", [], [])


def test_every_problem_of_a_server_in_order_the_worst_decides():
    level, flags, problems = rated(
        busy=1, max_workers=1, queue=1, exhausted=True, clients=9, max_clients=10, unauth=1, max_unauth=1
    )
    assert level == "critical"
    assert flags == ["exhausted", "near_client_limit", "unauth_limit_reached"]
    assert len(problems) == 3


# --- Clients that could not be listed -----------------------------------------------------------------


def test_clients_that_could_not_be_listed_are_a_warning_on_the_daemons_own_server_only():
    failure = {"failed": True, "msg": "Permission denied"}
    hostvars = {"hv1": host_vars(read(server("libvirtd"), server("admin", max_unauth=0)), listings=[failure])}
    built = report(hostvars)
    own, admin = built["servers"]
    assert (own["server"], own["level"], own["flags"]) == ("libvirtd", "warning", ["clients_unlisted"])
    assert own["problems"] == ["the clients could not be listed: Permission denied"]
    assert (admin["server"], admin["level"], admin["flags"]) == ("admin", "ok", [])
    assert built["hosts"][0]["daemons"][0]["clients_error"] == "Permission denied"


def test_clients_not_listed_without_a_message_and_listings_missing_altogether():
    no_message = only_row({"hv1": host_vars(read(server()), listings=[{"failed": True}])})
    assert no_message["problems"] == ["the clients could not be listed: the clients could not be listed"]
    hostvars = {"hv1": host_vars(read(server()))}
    del hostvars["hv1"][CLIENT_INFO]  # the host failed between the two loops
    assert only_row(hostvars)["flags"] == ["clients_unlisted"]


def test_a_daemon_read_keeps_its_clients_and_logging():
    clients = [{"id": 1, "transport": "unix", "readonly": False}]
    built = report({"hv1": host_vars(read(server(), outputs=["1:file:/var/log/x.log"]), listings=[listed(clients)])})
    (daemon,) = built["hosts"][0]["daemons"]
    assert daemon == {
        "uri": URI,
        "version": "9.0.0",
        "unreachable": False,
        "error": None,
        "logging": {"outputs": ["1:file:/var/log/x.log"], "filters": ["1:rpc"]},
        "clients_server": "libvirtd",
        "clients": clients,
        "clients_error": None,
    }
    row = built["servers"][0]
    assert (row["log_outputs"], row["log_filters"], row["version"]) == (["1:file:/var/log/x.log"], ["1:rpc"], "9.0.0")


# --- Hosts and daemons that could not be read ----------------------------------------------------------


def test_an_unreachable_host():
    msg = "Failed to connect to the host via ssh: Connection refused"
    row = only_row({"hv1": host_vars(unreadable(msg, unreachable=True))})
    assert (row["level"], row["severity"], row["flags"], row["problems"]) == (
        "failed",
        3,
        ["unreachable"],
        ["host unreachable"],
    )
    assert (row["error"], row["unreachable"], row["server"], row["daemon"]) == (msg, True, None, "default admin URI")


def test_an_unreadable_daemon():
    row = only_row({"hv1": host_vars(unreadable("Failed to connect socket to '/x'", item={"daemon": "virtqemud"}))})
    assert (row["level"], row["flags"], row["problems"]) == ("failed", ["failed"], ["cannot read the daemon"])
    assert (row["error"], row["unreachable"], row["daemon"]) == (
        "Failed to connect socket to '/x'",
        False,
        "virtqemud:///system",
    )
    assert (row["threadpool"], row["clients"], row["log_outputs"], row["busy_ratio"]) == (None, None, [], 0)


def test_an_unreadable_daemon_names_the_uri_asked_for_or_the_one_it_returned():
    assert (
        only_row({"hv1": host_vars(unreadable(item={"uri": "virtlogd:///system"}))})["daemon"] == "virtlogd:///system"
    )
    returned = unreadable(item={"daemon": "virtqemud"}, uri="virtqemud:///session")
    assert only_row({"hv1": host_vars(returned)})["daemon"] == "virtqemud:///session"
    no_message = unreadable()
    del no_message["msg"]
    assert only_row({"hv1": host_vars(no_message)})["error"] == "no result"


@pytest.mark.parametrize(
    "variables", [{}, {SERVER_INFO: {"failed": True, "msg": "skipped"}}], ids=["none", "no results"]
)
def test_a_host_that_failed_before_reading_its_daemons(variables):
    built = report({"hv1": variables})
    (row,) = built["servers"]
    assert (row["daemon"], row["flags"], row["problems"], row["level"]) == (
        "none read",
        ["failed"],
        ["no data"],
        "failed",
    )
    assert row["error"] == "the host failed before its daemons were read: the play output says why"
    assert built["hosts"][0]["daemons"][0]["uri"] == "none read"


def test_a_host_missing_from_hostvars_failed_before_reading():
    assert report({}, hosts=["hv1"])["servers"][0]["problems"] == ["no data"]


# --- Order ----------------------------------------------------------------------------------------


def test_rows_worst_first_by_severity():
    hostvars = {
        "ok": host_vars(read(server())),
        "warn": host_vars(read(server(clients=9, max_clients=10))),
        "crit": host_vars(read(server(clients=10, max_clients=10))),
        "down": host_vars(unreadable()),
    }
    assert [row["host"] for row in report(hostvars)["servers"]] == ["down", "crit", "warn", "ok"]


def test_ties_by_jobs_waiting_then_busy_workers_then_clients_then_unauthenticated_clients():
    hostvars = {
        "h-unauth": host_vars(read(server(unauth=2))),
        "h-clients": host_vars(read(server(clients=2, max_clients=10, unauth=10))),
        "h-busy": host_vars(read(server(busy=2, clients=4000))),
        "h-queue": host_vars(read(server(queue=1))),
        "h-none": host_vars(read(server())),
    }
    assert [row["host"] for row in report(hostvars)["servers"]] == [
        "h-queue",
        "h-busy",
        "h-clients",
        "h-unauth",
        "h-none",
    ]


def test_ties_by_host_name_case_folded_then_play_order():
    hostvars = {name: host_vars(read(server())) for name in ("b", "A", "c", "a")}
    assert [row["host"] for row in report(hostvars)["servers"]] == ["A", "a", "b", "c"]


def test_ratios_sort_as_rounded_to_three_places():
    """2/3 and 667/1000 both round to 0.667: a tie, which the host name breaks."""
    hostvars = {
        "b": host_vars(read(server(busy=2, max_workers=3))),
        "a": host_vars(read(server(busy=667, max_workers=1000))),
    }
    rows = report(hostvars, worker_warn_ratio=1.0)["servers"]
    assert [(row["host"], row["busy_ratio"]) for row in rows] == [("a", 0.667), ("b", 0.667)]


def test_a_hosts_rows_keep_the_order_of_its_daemons_and_their_servers():
    hostvars = {
        "hv1": host_vars(
            read(server("admin"), server("libvirtd"), uri="libvirtd:///system"),
            read(server("virtlogd", max_workers=0), server("admin"), uri="virtlogd:///system"),
        )
    }
    rows = report(hostvars)["servers"]
    assert [(row["daemon"].split(":")[0], row["server"]) for row in rows] == [
        ("libvirtd", "admin"),
        ("libvirtd", "libvirtd"),
        ("virtlogd", "virtlogd"),
        ("virtlogd", "admin"),
    ]


def test_hosts_in_the_order_of_their_worst_row_then_hosts_without_rows_in_play_order():
    hostvars = {
        "idle": host_vars(),  # no daemon to report (fleet_report_daemons: [])
        "ok": host_vars(read(server())),
        "empty": host_vars(),
        "crit": host_vars(read(server(), server("admin", exhausted=True, busy=1, max_workers=1))),
    }
    built = report(hostvars)
    assert [host["host"] for host in built["hosts"]] == ["crit", "ok", "idle", "empty"]
    assert [host["level"] for host in built["hosts"]] == ["critical", "ok", "ok", "ok"]
    assert built["hosts"][2] == {"host": "idle", "severity": 0, "level": "ok", "daemons": []}


def test_hosts_whose_names_differ_only_in_case_each_by_its_own_worst_row():
    """fleet.json.j2 put host A after hosts without rows here (Ansible's unique filter folds case); a
    host's place is its worst row's."""
    hostvars = {"a": host_vars(unreadable()), "idle": host_vars(), "A": host_vars(unreadable())}
    assert [host["host"] for host in report(hostvars)["hosts"]] == ["a", "A", "idle"]


# --- Counts, summary, options ----------------------------------------------------------------------


def test_the_summary_counts_hosts_servers_rows_and_levels():
    hostvars = {
        "down": host_vars(unreadable()),
        "mixed": host_vars(read(server(), server("admin", clients=10, max_clients=10)), unreadable()),
        "fine": host_vars(read(server(), server("admin"))),
        "idle": host_vars(),
    }
    assert report(hostvars)["summary"] == {
        "hosts": 4,
        "hosts_with_problems": 2,
        "servers": 4,
        "rows": 6,
        "problems": 3,
        "failed": 2,
        "critical": 1,
        "warning": 0,
        "ok": 3,
        "worst": "failed",
    }


def test_the_summary_of_a_report_without_rows():
    summary = report({"idle": host_vars()})["summary"]
    assert summary == {**summary, "hosts": 1, "rows": 0, "servers": 0, "problems": 0, "worst": "ok"}


def test_title_generated_and_thresholds_as_given_in_this_order():
    built = report({}, hosts=[], title="Fleet <1>", client_warn_ratio="0.8", worker_warn_ratio=1)
    assert list(built) == ["title", "generated", "thresholds", "summary", "servers", "hosts"]
    assert (built["title"], built["generated"]) == ("Fleet <1>", GENERATED)
    assert built["thresholds"] == {"client_warn_ratio": 0.8, "worker_warn_ratio": 1.0}


def test_generated_defaults_to_now_in_utc():
    generated = fleet_report([], {}, SERVER_INFO, CLIENT_INFO)["generated"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", generated), generated


def test_the_keys_of_a_row_in_their_order():
    assert list(only_row({"hv1": host_vars(read(server()))})) == list(E2E["report"]["servers"][0])
    assert list(only_row({"hv1": host_vars(unreadable())})) == list(E2E["report"]["servers"][0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hv1", {}, SERVER_INFO, CLIENT_INFO), "the input must be a list of host names"),
        ((["hv1"], [], SERVER_INFO, CLIENT_INFO), "hostvars must be a mapping"),
        ((["hv1"], {}, None, CLIENT_INFO), "server_info must be the name of a registered variable"),
        ((["hv1"], {}, SERVER_INFO, CLIENT_INFO, "lots"), "client_warn_ratio must be a number"),
    ],
)
def test_wrong_arguments_fail_with_a_message(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report(*args)


def test_the_filter_is_registered_by_its_name():
    assert FilterModule().filters() == {"fleet_report": fleet_report}


# --- The same as fleet.json.j2 -------------------------------------------------------------------------


def as_json(data) -> str:
    """As the role writes the JSON file (to_nice_json(sort_keys=false)): order and types count."""
    return json.dumps(data, indent=4)


def test_the_e2e_fleet_gives_the_json_file_of_before():
    built = fleet_report(E2E["hosts"], e2e_hostvars(), SERVER_INFO, CLIENT_INFO, generated=E2E["report"]["generated"])
    assert as_json(built) == as_json(E2E["report"])


def test_the_e2e_fleet_through_fleet_json_j2_gives_the_json_file_too():
    """The reference itself: the legacy template, rendered here, gives what the role wrote then."""
    assert as_json(legacy_report(E2E["hosts"], e2e_hostvars(), E2E["report"]["generated"])) == as_json(E2E["report"])


# Small numbers, so that limits are reached, ratios meet the thresholds exactly and rows tie.
counts = st.integers(min_value=0, max_value=4)
servers = st.builds(
    server,
    name=st.sampled_from(["libvirtd", "admin", "virtqemud"]),
    busy=counts,
    max_workers=counts,
    queue=st.integers(min_value=0, max_value=2),
    exhausted=st.booleans(),
    clients=counts,
    max_clients=counts,
    unauth=counts,
    max_unauth=counts,
)
items = st.sampled_from([{}, {"uri": "virtqemud:///system"}, {"daemon": "virtlogd"}])
daemon_results = st.one_of(
    st.builds(lambda servers, item: read(*servers, item=item), st.lists(servers, max_size=3), items),
    st.builds(unreadable, st.sampled_from(["Permission denied", "Failed to connect socket"]), items),
    st.builds(lambda item: unreadable("ssh: Connection refused", item=item, unreachable=True), items),
)
listings = st.sampled_from(
    [listed([{"id": 1, "transport": "unix"}]), listed(), {"failed": True, "msg": "Permission denied"}, {"failed": True}]
)


@st.composite
def fleets(draw) -> tuple:
    """(hosts, hostvars): up to four hosts, no two whose names differ only in case (see above)."""
    names = draw(st.lists(st.sampled_from(["hv-a", "HV-b", "hv-c", "web1", "Web2"]), max_size=4, unique=True))
    hostvars = {}
    for name in names:
        kind = draw(st.sampled_from(["read", "read", "read", "not read", "no results"]))
        if kind == "not read":
            hostvars[name] = {}
        elif kind == "no results":
            hostvars[name] = {SERVER_INFO: {"failed": True, "msg": "x"}}
        else:
            results = draw(st.lists(daemon_results, max_size=3))
            found = [draw(listings) if "servers" in result else skipped() for result in results]
            hostvars[name] = host_vars(*results, listings=found[: draw(st.integers(len(found) - 1, len(found)))])
    return names, hostvars


@settings(max_examples=100)
@given(
    fleet=fleets(),
    client_warn_ratio=st.sampled_from([0.5, 0.75, 0.9, 1.0]),
    worker_warn_ratio=st.sampled_from([0.5, 0.75, 0.9, 1.0]),
)
def test_the_filter_gives_what_fleet_json_j2_gave(fleet, client_warn_ratio, worker_warn_ratio):
    hosts, hostvars = fleet
    options = {"client_warn_ratio": client_warn_ratio, "worker_warn_ratio": worker_warn_ratio, "title": "t"}
    built = fleet_report(hosts, hostvars, SERVER_INFO, CLIENT_INFO, generated=GENERATED, **options)
    assert as_json(built) == as_json(legacy_report(hosts, hostvars, GENERATED, **options))
