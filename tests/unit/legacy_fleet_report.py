"""Role fleet_report as it was before the filter (tests/unit/fixtures/fleet_report_0.1.0), rendered by
Ansible's own template engine in this process, for the tests that show the new code gives the same."""

from __future__ import annotations

import json
from pathlib import Path

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:  # ansible-core 2.19 and later template only strings marked as trusted
    from ansible.template import trust_as_template
except ImportError:  # 2.17, 2.18

    def trust_as_template(text):
        return text


LEGACY = Path(__file__).parent / "fixtures" / "fleet_report_0.1.0"
E2E = json.loads((LEGACY / "e2e.json").read_text())
SERVER_INFO, CLIENT_INFO = "__fleet_report_server_info", "__fleet_report_client_info"


def render(path: Path, variables: dict) -> str:
    """A template file rendered as the template module renders it."""
    templar = Templar(loader=DataLoader(), variables=variables)
    source = trust_as_template(path.read_text())
    return templar.template(source, preserve_trailing_newlines=True, escape_backslashes=False)


def legacy_report(hosts: list, hostvars: dict, generated: str, **options) -> dict:
    """What fleet.json.j2 made of the hosts' variables; options as the role's (client_warn_ratio,
    worker_warn_ratio, title), and generated in place of the time it ran."""
    variables = {
        "ansible_play_hosts_all": hosts,
        "hostvars": hostvars,
        "fleet_report_client_warn_ratio": options.get("client_warn_ratio", 0.9),
        "fleet_report_worker_warn_ratio": options.get("worker_warn_ratio", 0.9),
        "fleet_report_title": options.get("title", "libvirt fleet report"),
    }
    text = render(LEGACY / "fleet.json.j2", variables)
    report = json.loads(text) if isinstance(text, str) else text
    report["generated"] = generated
    return report


def e2e_hostvars() -> dict:
    """The five hosts' variables as the e2e run left them (only what the report reads)."""
    return {
        host: {SERVER_INFO: E2E["server_info"][host], CLIENT_INFO: E2E["client_info"][host]} for host in E2E["hosts"]
    }
