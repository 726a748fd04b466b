"""Role fleet_report's page escapes every value it prints, the title too.

ansible-playbook runs the role's report tasks (tasks_from: report) over hosts whose names, daemon
errors, log outputs and clients are hostile, with a hostile title and report name. No daemon is
needed: each host's inventory holds what the role's two reading tasks would have registered, in the
modules' shapes. Every hostile value must reach the page as text (the parsed page shows it as it is,
and adds no element of its own), the JSON file and the summary as they are.
"""

from __future__ import annotations

import html.parser
import json
import re

import pytest

from tests.harness.ansible import run_playbook
from tests.unit.fake_admin import LIBVIRTD_THREADPOOL

pytestmark = pytest.mark.once  # nothing here depends on the libvirt version (see tests/conftest.py)

SCRIPT_HOST = "<script>alert(1)</script>"
QUOTE_HOST = "hv-\"quoted\"&'amp'"
TITLE = "Fleet &<>\"' <script>alert(5)</script>"
NAME = "r&<b>"
LOG_OUTPUT = "1:file:/var/log/</code><script>alert(2)</script>.log"
ERROR = "Failed: <b>bold</b> & \"quotes\" 'single' </td></tr></table>"
USER = "<img src=x onerror=alert(3)>"
ADDRESS = '"><script>alert(4)</script>'
HOSTILE = [SCRIPT_HOST, QUOTE_HOST, TITLE, NAME, LOG_OUTPUT, ERROR, USER, ADDRESS]
# Every element the template writes itself.
ELEMENTS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "main",
    "footer",
    "p",
    "div",
    "span",
}
ELEMENTS |= {"ol", "li", "b", "code", "br", "table", "thead", "tbody", "tr", "th", "td", "details", "summary"}

PLAYBOOK = """
- name: Report hosts whose results are in their inventory
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Write the report
      ansible.builtin.include_role:
        name: virtops.libvirt_admin.fleet_report
        tasks_from: report
"""


def server(name: str, clients: int) -> dict:
    return {
        "name": name,
        "threadpool": {**LIBVIRTD_THREADPOOL, "busy_workers": 0},
        "clients": {"max_clients": 10, "max_unauth_clients": 0, "clients": clients, "unauth_clients": 0},
        "exhausted": False,
    }


def registered(*results, listings=()) -> dict:
    """A host's variables as the role's two loops would leave them."""
    return {
        "__fleet_report_server_info": {"changed": False, "results": list(results)},
        "__fleet_report_client_info": {"changed": False, "results": list(listings)},
    }


def read(uri: str, clients: int, outputs: list) -> dict:
    return {
        "uri": uri,
        "version": "9.0.0",
        "servers": [server("libvirtd", clients), server("admin", 1)],
        "logging": {"outputs": outputs, "filters": ["1:<b>"]},
        "__fleet_report_daemon": {"uri": uri},
        "ansible_loop_var": "__fleet_report_daemon",
    }


def inventory() -> dict:
    local = {"ansible_connection": "local"}
    client = {
        "id": 7,
        "server": "libvirtd",
        "transport": "unix",
        "readonly": False,
        "sock_addr": ADDRESS,
        "connected_since_iso": "2026-01-31T23:59:00Z",
        "unix_user_name": USER,
        "unix_process_id": 42,
    }
    failed = {
        "failed": True,
        "msg": ERROR,
        "__fleet_report_daemon": {"uri": "libvirtd:///system?socket=/run/<i>sock"},
        "ansible_loop_var": "__fleet_report_daemon",
    }
    hosts = {
        SCRIPT_HOST: {
            **local,
            **registered(
                read("libvirtd:///system", 9, [LOG_OUTPUT]), listings=[{"server": "libvirtd", "clients": [client]}]
            ),
        },
        QUOTE_HOST: {**local, **registered(failed, listings=[{"skipped": True}])},
        "hv-ok": {
            **local,
            **registered(
                read("virtqemud:///system", 0, ["3:stderr"]), listings=[{"server": "virtqemud", "clients": []}]
            ),
        },
    }
    return {"fleet": {"hosts": hosts}}


class Page(html.parser.HTMLParser):
    """A page's elements, its text and attribute values (entities decoded), and its title."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags, self.texts, self.attributes, self.title, self._in_title = [], [], [], "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(value or "" for _key, value in attrs)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.texts.append(data)
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("escaping")
    (folder / "inventory.json").write_text(json.dumps(inventory()))
    (folder / "report.yml").write_text(PLAYBOOK)
    extra = {"fleet_report_dir": str(folder / "out"), "fleet_report_title": TITLE, "fleet_report_name": NAME}
    completed = run_playbook(folder / "report.yml", extra, ["-i", str(folder / "inventory.json")])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return {
        "page": (folder / "out" / f"{NAME}.html").read_text(),
        "data": json.loads((folder / "out" / f"{NAME}.json").read_text()),
        "stdout": completed.stdout,
    }


def test_no_hostile_value_reaches_the_page_unescaped(written):
    text = written["page"]
    page = Page(text)
    assert set(page.tags) <= ELEMENTS, set(page.tags) - ELEMENTS
    assert not re.search(r"<(script|img|i)\b", text, re.I), "an element of a value is in the page"
    assert text.count("</code>") == text.count("<code>") == 4  # the log output of each of four servers
    assert text.count("</table>") == text.count("<table") == 2  # every server, and one daemon's clients
    assert text.count("</td>") == text.count("<td")
    assert "&amp;amp;" not in text and "&amp;lt;" not in text, "a value is escaped twice"


def test_every_hostile_value_is_shown_as_it_is(written):
    page = Page(written["page"])
    shown = "\n".join(page.texts + page.attributes)
    for value in HOSTILE:
        assert value in shown, f"{value!r} is not on the page as text"
    assert SCRIPT_HOST in page.attributes  # data-host, escaped inside its quotes


def test_the_title_is_escaped(written):
    page = Page(written["page"])
    assert page.title == f"{TITLE}: 2 problems"
    assert (
        "<title>Fleet &amp;&lt;&gt;&#34;&#39; &lt;script&gt;alert(5)&lt;/script&gt;: 2 problems</title>"
        in written["page"]
    )


def test_the_json_file_and_the_summary_keep_the_values_as_they_are(written):
    data = written["data"]
    assert data["title"] == TITLE
    assert [row["host"] for row in data["servers"]][:2] == [QUOTE_HOST, SCRIPT_HOST]
    assert data["servers"][0]["error"] == ERROR
    assert data["servers"][1]["log_outputs"] == [LOG_OUTPUT]
    match = re.search(r'"msg": \[\n(.*?)\n\s*\]', written["stdout"], re.S)
    assert match, written["stdout"]
    lines = [json.loads(line.strip().rstrip(",")) for line in match.group(1).splitlines()]
    assert lines[0].startswith(f"{TITLE}: 3 hosts, 4 servers; 1 failed, 0 critical, 1 warning, 3 ok"), lines
    assert QUOTE_HOST in lines[2] and ERROR[:40] in lines[2], lines
