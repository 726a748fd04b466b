"""playbooks/report.yml (role fleet_report) over a fleet of sandboxed daemons.

Five hosts, all on this machine: hv-busy (libvirtd with one worker, held by
real volume wipes: exhausted), hv-crowded (libvirtd with 9 of 10 clients
connected: near its client limit), hv-healthy (libvirtd and virtlogd),
hv-down (an admin URI with no daemon behind it) and hv-gone (ssh to a port
nobody listens on: unreachable). The report's JSON must list them worst
first with the right flags; the HTML page, opened in headless Chromium, must
show the problem hosts first, in red and amber, on the first screen.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import REPO, run_playbook
from tests.harness.clients import Clients
from tests.harness.load import WipeLoad
from tests.harness.ports import free_port

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

OUTPUT = REPO / "tests" / "output" / "fleet_report"
VIEWPORT = (1280, 900)
RED, AMBER = "rgb(198, 40, 40)", "rgb(224, 138, 0)"
CRITICAL_FIRST = ["hv-down", "hv-gone", "hv-busy", "hv-crowded"]


def wait_exhausted(daemon, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = witness.threadpool(daemon.uri, "libvirtd")
        if pool["freeWorkers"] == 0 and pool["jobQueueDepth"] >= 2:
            return
        time.sleep(0.05)
    raise AssertionError(f"the load did not fill the pool: {pool}")


def recap(output: str) -> dict:
    found = re.findall(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    return {host: {"ok": int(ok), "unreachable": int(dark), "failed": int(failed)} for host, ok, dark, failed in found}


class Elements(html.parser.HTMLParser):
    """Every start tag of a page, in document order, as (tag, attributes)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {key: value or "" for key, value in attrs}))

    def having(self, tag: str, css_class: str) -> list:
        return [attrs for name, attrs in self.elements if name == tag and css_class in attrs.get("class", "").split()]


PROBE = """<script>
const box = (element) => element.getBoundingClientRect();
const style = (element) => getComputedStyle(element);
const verdict = document.getElementById("verdict");
const probe = {
  viewport: [innerWidth, innerHeight],
  pageWidth: document.documentElement.scrollWidth,
  verdict: {bottom: box(verdict).bottom, background: style(verdict).backgroundColor},
  problems: [...document.querySelectorAll("li.problem")].map((card) => ({
    host: card.dataset.host, top: box(card).top, bottom: box(card).bottom,
    border: style(card).borderLeftColor, hostFontPx: parseFloat(style(card.querySelector(".host")).fontSize),
  })),
  rows: [...document.querySelectorAll("tr.server-row")].map((row) => ({
    host: row.dataset.host, background: style(row).backgroundColor,
  })),
};
document.documentElement.setAttribute("data-probe", JSON.stringify(probe));
</script>
"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium in a window of VIEWPORT, with a profile folder of its own."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is needed to look at the report: apt-get install chromium")
    argv = [
        binary,
        "--headless",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        *args,
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed


def png_size(path: Path) -> tuple:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def fleet(make_daemon, tmp_path):
    """The five hosts' inventory, with hv-busy exhausted and hv-crowded near its limit while it is used."""
    busy = make_daemon(drivers=("storage",), config={"min_workers": 1, "max_workers": 1, "prio_workers": 1})
    crowded = make_daemon(drivers=("secret",), config={"max_clients": 10, "max_anonymous_clients": 10})
    healthy = make_daemon(config={"log_outputs": "3:file:/var/log/libvirt/libvirtd.log"})
    logd = make_daemon(binary="virtlogd")
    local = {"ansible_connection": "local"}
    # Each way of naming the daemons: the inventory of role daemon_state (whose settings the report
    # ignores), the report's own list, one URI.
    declared = {"servers": {"libvirtd": {"max_workers": 20}}}
    hosts = {
        "hv-healthy": {**local, "libvirt_admin_daemons": [{"uri": healthy.uri, **declared}, {"uri": logd.uri}]},
        "hv-crowded": {**local, "fleet_report_daemons": [{"uri": crowded.uri}]},
        "hv-busy": {**local, "libvirt_admin_uri": busy.uri},
        "hv-down": {**local, "libvirt_admin_uri": f"libvirtd:///system?socket={tmp_path}/gone-admin-sock"},
        "hv-gone": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": free_port()},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"fleet": {"hosts": hosts}}))
    specs = [{"uri": f"secret:///system?socket={crowded.socket}"}] * 9
    # Wipes one after another in the one worker, far more than the test needs (the files are sparse until
    # wiped): the pool stays exhausted however slow the machine, until the daemon is stopped.
    load = WipeLoad(busy, volumes=40, size_mb=200)
    with Clients(specs) as clients:
        assert all(clients.opened), clients.errors
        load.start()
        # The load only has to hold the worker, not to finish: at the lowest priority (every thread of
        # the daemon's process group), it leaves the machine to the playbook.
        os.setpriority(os.PRIO_PGRP, busy.pid, 19)
        try:
            wait_exhausted(busy)
            yield {"inventory": inventory, "busy": busy, "crowded": crowded, "healthy": healthy, "logd": logd}
        finally:
            # Stopping the daemon ends the wipes still queued (their calls fail: the load's child
            # process then ends with an error of its own, which is not this test's business).
            busy.kill(signal.SIGKILL)  # now, not after the wipe in progress
            load.process.communicate(timeout=60)


def test_report_puts_the_problem_hosts_first(fleet, tmp_path):
    out_dir = tmp_path / "report"
    extra = {"libvirt_admin_hosts": "fleet", "libvirt_admin_become": False, "fleet_report_dir": str(out_dir)}
    completed = run_playbook("virtops.libvirt_admin.report", extra, ["-i", str(fleet["inventory"])])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # The load still held the worker after the run, so it did while the report read the pool.
    after = witness.threadpool(fleet["busy"].uri, "libvirtd")
    assert after["freeWorkers"] == 0 and after["jobQueueDepth"] > 0, f"the load ended early: {after}"
    # Gathering failures are reported, never fail the play; the unreachable host is ignored, not dark.
    hosts = recap(completed.stdout)
    assert set(hosts) == {"hv-healthy", "hv-crowded", "hv-busy", "hv-down", "hv-gone"}, completed.stdout
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in hosts.values()), hosts

    report = json.loads((out_dir / "report.json").read_text())
    check_data(report, fleet)
    check_summary(completed.stdout, out_dir)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "report.json"):
        shutil.copy(out_dir / name, OUTPUT / name)
    check_page(OUTPUT / "report.html", tmp_path / "chromium")


def check_data(report: dict, fleet: dict) -> None:
    rows = report["servers"]
    by_key = {(row["host"], row["server"]): row for row in rows}
    assert [row["host"] for row in rows[:4]] == CRITICAL_FIRST, [(row["host"], row["level"]) for row in rows]
    assert [row["level"] for row in rows[:4]] == ["failed", "failed", "critical", "warning"]
    assert all(row["level"] == "ok" for row in rows[4:]), rows[4:]
    assert [host["host"] for host in report["hosts"]] == [*CRITICAL_FIRST, "hv-healthy"]
    assert report["summary"] == {
        **report["summary"],
        "hosts": 5,
        "hosts_with_problems": 4,
        "servers": 8,  # two each: libvirtd and admin, virtlogd and admin
        "failed": 2,
        "critical": 1,
        "warning": 1,
        "ok": 6,
        "worst": "failed",
    }

    down, gone = by_key[("hv-down", None)], by_key[("hv-gone", None)]
    assert down["flags"] == ["failed"] and not down["unreachable"]
    assert "gone-admin-sock" in down["error"], down
    assert gone["flags"] == ["unreachable"] and gone["unreachable"]
    assert "ssh" in gone["error"].lower(), gone

    busy = by_key[("hv-busy", "libvirtd")]
    assert busy["flags"] == ["exhausted"] and busy["exhausted"] is True
    assert (busy["threadpool"]["busy_workers"], busy["threadpool"]["max_workers"]) == (1, 1)
    assert busy["threadpool"]["job_queue_depth"] >= 1
    assert busy["daemon"] == fleet["busy"].uri
    assert by_key[("hv-busy", "admin")]["level"] == "ok"  # the admin server answers from its own pool

    crowded = by_key[("hv-crowded", "libvirtd")]
    assert crowded["flags"] == ["near_client_limit"]
    assert (crowded["clients"]["clients"], crowded["clients"]["max_clients"]) == (9, 10)
    assert crowded["clients"] == {**crowded["clients"], "unauth_clients": 0, "max_unauth_clients": 10}
    crowded_daemon = next(host for host in report["hosts"] if host["host"] == "hv-crowded")["daemons"][0]
    assert crowded_daemon["clients_server"] == "libvirtd"
    assert len(crowded_daemon["clients"]) == 9
    assert {client["transport"] for client in crowded_daemon["clients"]} == {"unix"}

    healthy = by_key[("hv-healthy", "libvirtd")]
    assert healthy["log_outputs"] == witness.log_outputs(fleet["healthy"].uri).split()
    assert healthy["log_outputs"] == ["3:file:/var/log/libvirt/libvirtd.log"]
    logd = by_key[("hv-healthy", "virtlogd")]
    assert logd["threadpool"]["max_workers"] == 0 and logd["level"] == "ok"
    assert logd["daemon"] == fleet["logd"].uri


def check_summary(stdout: str, out_dir: Path) -> None:
    """One debug task: a header, one line per host and server (worst first), the report's path."""
    match = re.search(r'"msg": \[\n(.*?)\n\s*\]', stdout, re.S)
    assert match, stdout
    lines = [json.loads(line.strip().rstrip(",")) for line in match.group(1).splitlines()]
    assert lines[0].startswith("libvirt fleet report: 5 hosts, 8 servers; 2 failed, 1 critical, 1 warning, 6 ok")
    assert lines[1].split()[:3] == ["LEVEL", "HOST", "SERVER"]
    table = [line.split() for line in lines[2:12]]
    assert [(cells[0], cells[1]) for cells in table[:4]] == list(
        zip(["FAILED", "FAILED", "CRITICAL", "WARNING"], CRITICAL_FIRST)
    )
    assert "worker pool exhausted: 1/1 workers busy" in lines[4]
    assert "near the client limit: 9/10 clients" in lines[5]
    assert all(cells[0] == "OK" for cells in table[4:])
    assert lines[-1] == f"report: {out_dir}/report.html and .json"


def check_page(page: Path, profile: Path) -> None:
    text = page.read_text()
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<script""", text, re.I), "the page loads something"

    screenshot = OUTPUT / "report.png"
    screenshot.unlink(missing_ok=True)
    chromium(profile, f"--screenshot={screenshot}", page.as_uri())
    assert png_size(screenshot) == VIEWPORT
    assert screenshot.stat().st_size > 20_000, "the screenshot looks empty"

    # The page as Chromium built it, with a probe script appended (the report itself has none) that
    # records where the problem cards are in the first screen and the colours they are drawn in.
    probe_page = OUTPUT / "report-probe.html"
    probe_page.write_text(text.replace("</body>", PROBE + "</body>"))
    dom = Elements(chromium(profile, "--dump-dom", probe_page.as_uri()).stdout)

    # The problem hosts first, in order, each marked.
    rows = dom.having("tr", "server-row")
    assert [row["data-host"] for row in rows[:4]] == CRITICAL_FIRST
    assert [row["data-level"] for row in rows[:4]] == ["failed", "failed", "critical", "warning"]
    assert "level-failed" in rows[0]["class"].split()
    assert "exhausted" in rows[2]["data-flags"].split()
    assert "near_client_limit" in rows[3]["data-flags"].split()
    assert all(row["data-level"] == "ok" for row in rows[4:])
    cards = dom.having("li", "problem")
    assert [card["data-host"] for card in cards] == CRITICAL_FIRST
    (verdict,) = [attrs for tag, attrs in dom.elements if attrs.get("id") == "verdict"]
    assert verdict["data-level"] == "failed"

    # Where and how it is drawn in a 1280x900 window: every problem in the first screen, red or amber.
    (root,) = [attrs for tag, attrs in dom.elements if tag == "html"]
    probe = json.loads(root["data-probe"])
    # The width is the window's; the height is what is left of 900 px below a browser's own bars.
    width, height = probe["viewport"]
    assert width == VIEWPORT[0] and 600 < height <= VIEWPORT[1], probe["viewport"]
    assert probe["pageWidth"] <= width, "the page is wider than the window"
    assert probe["verdict"]["background"] == RED and probe["verdict"]["bottom"] <= height
    assert [card["host"] for card in probe["problems"]] == CRITICAL_FIRST
    for card in probe["problems"]:
        assert card["bottom"] <= height, f"{card['host']} is below the first screen: {probe}"
        assert card["hostFontPx"] >= 24, card
    assert [card["border"] for card in probe["problems"]] == [RED, RED, RED, AMBER]
    assert probe["rows"][0]["background"] != probe["rows"][-1]["background"]
