"""Role virtops.libvirt_admin.daemon_state and playbooks/enforce.yml against real daemons, checked with
virt-admin; and the role's molecule scenario `default`, run as molecule runs it."""

from __future__ import annotations

import sys

import pytest

from tests.harness import witness
from tests.harness.ansible import run_playbook
from tests.harness.molecule import run_scenario
from tests.integration.test_playbooks import recap

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

ENFORCE = "virtops.libvirt_admin.enforce"


def declared(daemon, **extra) -> dict:
    return {
        "libvirt_admin_hosts": "localhost",
        "libvirt_admin_become": False,
        "libvirt_admin_daemons": [
            {
                "uri": daemon.uri,
                "servers": {"libvirtd": {"max_workers": 33, "max_clients": 444}, "admin": {"min_workers": 2}},
                "logging": {"filters": ["1:rpc"]},
            }
        ],
        **extra,
    }


def observed(daemon) -> tuple:
    return (
        witness.settings(daemon.uri, "libvirtd"),
        witness.client_limits(daemon.uri, "libvirtd")["nclients_max"],
        witness.settings(daemon.uri, "admin"),
        witness.log_filters(daemon.uri).split(),
    )


def test_enforce_check_apply_again(daemon):
    before = observed(daemon)
    check = run_playbook(ENFORCE, declared(daemon), ["--check", "--diff"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert recap(check.stdout)["changed"] == 1
    assert '+            "max_workers": 33' in check.stdout, check.stdout
    assert observed(daemon) == before, "check mode changed the daemon"

    first = run_playbook(ENFORCE, declared(daemon), ["--diff"])
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first.stdout)["changed"] == 1
    libvirtd, max_clients, admin, filters = observed(daemon)
    assert (libvirtd[1], max_clients, admin[0], filters) == (33, 444, 2, ["1:*rpc*"])

    again = run_playbook(ENFORCE, declared(daemon))
    assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout
    again_check = run_playbook(ENFORCE, declared(daemon), ["--check"])
    assert again_check.returncode == 0 and recap(again_check.stdout)["changed"] == 0, again_check.stdout


def test_a_typo_in_a_variable_name_fails_before_anything_changes(daemon):
    before = observed(daemon)
    typo = declared(daemon, libvirt_admin_persits=True)
    completed = run_playbook(ENFORCE, typo)
    assert completed.returncode != 0
    assert "Unknown variable(s) libvirt_admin_persits" in completed.stdout, completed.stdout
    assert observed(daemon) == before


def test_a_typo_inside_a_daemon_entry_fails_the_argument_spec(daemon):
    before = observed(daemon)
    bad = declared(daemon)
    bad["libvirt_admin_daemons"][0]["sevrers"] = bad["libvirt_admin_daemons"][0].pop("servers")
    completed = run_playbook(ENFORCE, bad)
    assert completed.returncode != 0
    assert "Validation of arguments failed:\nlibvirt_admin_daemons.sevrers" in completed.stdout, completed.stdout
    assert observed(daemon) == before


def test_a_misspelt_setting_fails_before_anything_changes(daemon):
    before = observed(daemon)
    bad = declared(daemon)
    bad["libvirt_admin_daemons"][0]["servers"]["libvirtd"]["max_wokers"] = 50
    completed = run_playbook(ENFORCE, bad)
    assert completed.returncode != 0
    assert "unknown setting max_wokers" in completed.stdout, completed.stdout
    assert observed(daemon) == before


def test_molecule_default_scenario():
    """converge, idempotence and verify (with virt-admin) on a sandboxed daemon the harness starts."""
    run_scenario("default", prefix=(sys.executable, "-m", "tests.harness.sandbox", "--"))


# The typo check alone: no daemon is needed, as a host with no daemons declared (libvirt_admin_daemons: [])
# runs no module; the check is part of the role's one task all the same.
TWICE = """
- name: The role twice, so that the second run sees the first one's result
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the role
      ansible.builtin.include_role:
        name: virtops.libvirt_admin.daemon_state
      loop: [1, 2]
"""
# Every libvirt_admin_ variable the roles and playbooks read (role daemon_state's own list of them, before
# each part stated its own), with harmless values for a host without daemons.
EVERY_VARIABLE = {
    "libvirt_admin_daemons": [],
    "libvirt_admin_persist": False,
    "libvirt_admin_persist_backup": False,
    "libvirt_admin_strict_variables": True,
    "libvirt_admin_hosts": "localhost",
    "libvirt_admin_become": False,
    "libvirt_admin_uri": "libvirtd:///system",
    "libvirt_admin_daemon": "libvirtd",
    "libvirt_admin_server": "libvirtd",
    "libvirt_admin_min_workers": 5,
    "libvirt_admin_max_workers": 20,
    "libvirt_admin_prio_workers": 5,
    "libvirt_admin_debug_filters": ["1:qemu"],
    "libvirt_admin_debug_log": "/var/log/libvirt/debug-window.log",
    "libvirt_admin_debug_unsafe_outputs": False,
    "libvirt_admin_debug_seconds": 1,
    "libvirt_admin_debug_fetch_dir": "debug-window",
}


@pytest.fixture
def twice(tmp_path):
    playbook = tmp_path / "twice.yml"
    playbook.write_text(TWICE)
    return playbook


def test_every_variable_of_the_collection_passes_the_typo_check(twice):
    completed = run_playbook(twice, EVERY_VARIABLE)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Unknown variable" not in completed.stdout


def test_a_typo_fails_even_with_no_daemon_declared_naming_the_known_variables(twice):
    completed = run_playbook(twice, {**EVERY_VARIABLE, "libvirt_admin_deamons": []})
    assert completed.returncode != 0
    assert "Unknown variable(s) libvirt_admin_deamons: no role or playbook" in completed.stdout, completed.stdout
    assert "Known here: libvirt_admin_become, libvirt_admin_daemon, " in completed.stdout, completed.stdout


def test_strict_variables_false_skips_the_typo_check(twice):
    completed = run_playbook(
        twice, {**EVERY_VARIABLE, "libvirt_admin_deamons": [], "libvirt_admin_strict_variables": False}
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
