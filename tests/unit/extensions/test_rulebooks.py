"""The rulebooks of extensions/eda/rulebooks: valid for ansible-rulebook (its own schema and parser),
and guard_job_template.yml the same guard as guard.yml but for its actions (and the throttle those
need, a job keeping no state of its own)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.harness.ansible import BIN, REPO

RULEBOOKS = REPO / "extensions" / "eda" / "rulebooks"
NAMES = ("guard.yml", "guard_job_template.yml")


def load(name: str) -> list:
    return yaml.safe_load((RULEBOOKS / name).read_text())


@pytest.mark.parametrize("name", NAMES)
def test_ansible_rulebook_accepts_the_rulebook(name):
    import ansible_rulebook as package
    import jsonschema
    from ansible_rulebook import rules_parser
    from ansible_rulebook.conf import settings

    settings.ansible_galaxy_path = settings.ansible_galaxy_path or shutil.which("ansible-galaxy", path=str(BIN))
    schema = json.loads((Path(package.__file__).parent / "schema" / "ruleset_schema.json").read_text())
    jsonschema.validate(load(name), schema)
    (ruleset,) = rules_parser.parse_rule_sets(load(name), {})
    assert [source.source_name for source in ruleset.sources] == ["virtops.libvirt_admin.admin_watch"]


def test_the_job_template_guard_is_the_same_guard():
    (cli,), (controller,) = load("guard.yml"), load("guard_job_template.yml")
    assert cli["sources"] == controller["sources"]
    assert cli["execution_strategy"] == controller["execution_strategy"] == "parallel"
    assert [(rule["name"], rule["condition"]) for rule in cli["rules"]] == [
        (rule["name"], rule["condition"]) for rule in controller["rules"]
    ]
    for mine, theirs in zip(cli["rules"], controller["rules"]):
        if "run_playbook" in mine["action"]:
            playbook, template = mine["action"]["run_playbook"], theirs["action"]["run_job_template"]
            assert playbook["name"] == "virtops.libvirt_admin.remediate"
            assert playbook["lock"] == template["lock"]
            assert theirs["throttle"]["group_by_attributes"] == [
                "event.libvirt_admin.host",
                "event.libvirt_admin.daemon",
                "event.libvirt_admin.server",
            ]
        else:
            assert mine["action"] == theirs["action"]


def test_every_kind_of_event_has_a_rule():
    (guard,) = load("guard.yml")
    conditions = " ".join(rule["condition"] for rule in guard["rules"])
    for kind in (
        "exhausted",
        "recovered",
        "clients_near_limit",
        "clients_ok",
        "daemon_down",
        "daemon_up",
        "host_unreachable",
        "host_reachable",
    ):
        assert f'"{kind}"' in conditions, kind
