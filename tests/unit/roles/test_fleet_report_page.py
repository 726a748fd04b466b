"""Role fleet_report's page: its template prints only the escaped data tasks/report.yml gives it, and,
rendered by Ansible's engine, it is the page of before (tests/unit/fixtures/fleet_report_0.1.0) save
for the title, which is now escaped too."""

from __future__ import annotations

import copy
import json

import jinja2
import jinja2.nodes

from ansible_collections.virtops.libvirt_admin.plugins.filter.html_escape import html_escape
from tests.harness.ansible import REPO
from tests.unit.legacy_fleet_report import E2E, LEGACY, render

TEMPLATES = REPO / "roles" / "fleet_report" / "templates"
HOSTILE_HOST = "<script>alert(1)</script>"
HOSTILE_TITLE = "&<>\"' fleet"
HOSTILE_OUTPUT = "1:file:/tmp/</code><b>.log"


def parsed(name: str) -> jinja2.nodes.Template:
    return jinja2.Environment().parse((TEMPLATES / name).read_text())


def test_the_page_reads_no_variable_but_the_escaped_page_data():
    """Every name it reads is one it sets itself (set, for, macro), Jinja's loop, or the page data."""
    tree = parsed("report.html.j2")
    names = list(tree.find_all(jinja2.nodes.Name))
    own = {name.name for name in names if name.ctx in ("store", "param")}
    own |= {macro.name for macro in tree.find_all(jinja2.nodes.Macro)}
    read = {name.name for name in names if name.ctx == "load"}
    assert read - own - {"loop"} == {"__fleet_report_page"}


def test_the_page_never_escapes_again_nor_marks_anything_safe():
    filters = {node.name for node in parsed("report.html.j2").find_all(jinja2.nodes.Filter)}
    assert not filters & {"e", "escape", "forceescape", "safe", "urlize", "xmlattr"}, filters


def old_page(report: dict) -> str:
    variables = {"__fleet_report": report, "fleet_report_clients_listed": 20, "fleet_report_name": "report"}
    return render(LEGACY / "report.html.j2", variables)


def new_page(report: dict) -> str:
    """As tasks/report.yml renders it."""
    page = html_escape({"report": report, "name": "report", "clients_listed": 20})
    return render(TEMPLATES / "report.html.j2", {"__fleet_report_page": page})


def test_the_e2e_fleets_page_is_the_page_of_before():
    assert new_page(E2E["report"]) == old_page(E2E["report"])


def hostile_report() -> dict:
    """The e2e report with a hostile host name, title and log output."""
    report = json.loads(json.dumps(E2E["report"]).replace('"hv-busy"', json.dumps(HOSTILE_HOST)))
    report["title"] = HOSTILE_TITLE
    for row in report["servers"]:
        if row["log_outputs"]:
            row["log_outputs"] = [*row["log_outputs"], HOSTILE_OUTPUT]
    return report


def test_with_hostile_values_only_the_title_differs_from_before_and_is_escaped_now():
    report = hostile_report()
    old, new = old_page(copy.deepcopy(report)).splitlines(), new_page(report).splitlines()
    assert len(old) == len(new)
    differing = [(before, after) for before, after in zip(old, new) if before != after]
    assert differing == [
        ("<title>&<>\"' fleet: 4 problems</title>", "<title>&amp;&lt;&gt;&#34;&#39; fleet: 4 problems</title>")
    ]
    page = "\n".join(new)
    assert HOSTILE_HOST not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_OUTPUT not in page and "<code>1:file:/tmp/&lt;/code&gt;&lt;b&gt;.log</code>" in page
