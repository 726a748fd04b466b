"""Lookup collection_variables: the variables the roles (argument specs) and playbooks (header
"Variables" lists) of the collection state; and that they are every variable the collection reads."""

from __future__ import annotations

import re
import textwrap

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.virtops.libvirt_admin.plugins.lookup.collection_variables import (
    COLLECTION,
    LookupModule,
    collection_variables,
    playbook_variables,
)
from tests.harness.ansible import REPO

# The names role daemon_state's vars/main.yml listed before each role and playbook stated its own
# (less libvirt_admin_daemon_state, the role's result, which the role adds itself).
BEFORE = {
    "libvirt_admin_daemons", "libvirt_admin_persist", "libvirt_admin_persist_backup", "libvirt_admin_strict_variables",
    "libvirt_admin_hosts", "libvirt_admin_become", "libvirt_admin_uri", "libvirt_admin_daemon", "libvirt_admin_server",
    "libvirt_admin_min_workers", "libvirt_admin_max_workers", "libvirt_admin_prio_workers",
    "libvirt_admin_debug_filters", "libvirt_admin_debug_log", "libvirt_admin_debug_unsafe_outputs",
    "libvirt_admin_debug_seconds", "libvirt_admin_debug_fetch_dir",
}  # fmt: skip
# The remediation playbook's, which the guard rulebook runs (issue 18).
REMEDIATE = {
    "libvirt_admin_remediate_event", "libvirt_admin_remediate_worker_step",
    "libvirt_admin_remediate_max_workers_ceiling", "libvirt_admin_remediate_client_step",
    "libvirt_admin_remediate_max_clients_ceiling", "libvirt_admin_remediate_throttle",
    "libvirt_admin_remediate_dry_run", "libvirt_admin_remediate_log_dir", "libvirt_admin_remediate_become",
}  # fmt: skip
ROLE_RESULTS = {"libvirt_admin_daemon_state"}  # registered by role daemon_state
# A variable of the collection where a role or playbook reads it (not a module's FQCN, not an internal __ one).
READ = re.compile(r"(?<![\w.])(?:libvirt_admin|fleet_report)_[a-z0-9_]+")


def lookup(*terms) -> list:
    return LookupModule().run(list(terms), variables={})


def test_the_collection_states_the_libvirt_admin_variables_it_had_listed_in_one_place():
    assert set(lookup("libvirt_admin_")) == BEFORE | REMEDIATE


def test_every_name_sorted_once_without_terms_and_by_any_of_several_prefixes():
    every = lookup()
    assert every == sorted(set(every))
    assert {"fleet_report_dir", "fleet_report_client_warn_ratio", "libvirt_admin_daemons"} <= set(every)
    assert lookup("fleet_report_", "libvirt_admin_debug_") == sorted(
        name for name in every if name.startswith(("fleet_report_", "libvirt_admin_debug_"))
    )
    assert lookup("nothing_") == []


def test_a_term_that_is_no_string_fails():
    with pytest.raises(AnsibleLookupError, match="prefixes"):
        lookup(3)


def read_in(path) -> set:
    """The collection's variables a file reads, its comments left out."""
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    return set(READ.findall(code))


@pytest.mark.parametrize(
    "path",
    [
        *sorted((REPO / "playbooks").glob("*.yml")),
        *sorted(
            path for path in (REPO / "roles").glob("*/*/*") if path.parts[-2] in ("tasks", "defaults", "templates")
        ),
    ],
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_every_variable_a_role_or_playbook_reads_is_stated(path):
    """What makes the typo check safe: a variable read but not stated would fail every host that sets it."""
    missing = read_in(path) - set(lookup()) - ROLE_RESULTS
    assert not missing, f"{path.name} reads {sorted(missing)}: state them (meta/argument_specs.yml, or the header)"


def test_the_playbooks_state_their_variables_in_their_headers():
    assert playbook_variables((REPO / "playbooks" / "threadpool.yml").read_text()) == {
        "libvirt_admin_hosts", "libvirt_admin_become", "libvirt_admin_uri", "libvirt_admin_daemon",
        "libvirt_admin_server", "libvirt_admin_min_workers", "libvirt_admin_max_workers", "libvirt_admin_prio_workers",
    }  # fmt: skip
    assert "fleet_report_worker_warn_ratio" in playbook_variables((REPO / "playbooks" / "report.yml").read_text())


def test_a_header_list_its_entries_their_continuations_and_its_end():
    text = textwrap.dedent(
        """\
        ---
        # What it does, mentioning not_a_variable.
        #
        # Variables (all optional):
        #   first_one        what it does
        #                    continued: not_this one
        #   second, third / fourth   several names of one entry
        #   fifth
        #     sixth_is_a_continuation
        # The end of the list: seventh
        #   eighth is after the list
        - name: A play
          hosts: all
        #   ninth is no header
        """
    )
    assert playbook_variables(text) == {"first_one", "second", "third", "fourth", "fifth"}


def test_no_header_no_variables():
    assert playbook_variables("- name: A play\n  hosts: all\n") == set()
    assert playbook_variables("---\n# Variables:\n\n#   after_a_blank_line  no longer the header\n") == set()


def write(root, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_roles_state_theirs_in_any_entry_point_of_their_argument_specs(tmp_path):
    specs = "argument_specs:\n  main: {options: {a_1: {}, a_2: {}}}\n  other: {options: {a_3: {}}}\n"
    write(tmp_path, "roles/one/meta/argument_specs.yml", specs)
    write(tmp_path, "roles/two/meta/main.yml", "galaxy_info: {}\nargument_specs:\n  main: {options: {b_1: {}}}\n")
    write(tmp_path, "roles/three/meta/main.yml", "galaxy_info: {}\n")  # no argument specs
    write(tmp_path, "roles/four/meta/argument_specs.yml", "argument_specs:\n  main: {}\n")  # no options
    write(tmp_path, "playbooks/p.yml", "# Variables:\n#   p_1   a playbook's\n- name: P\n  hosts: all\n")
    assert collection_variables(tmp_path) == {"a_1", "a_2", "a_3", "b_1", "p_1"}


def test_argument_specs_yml_comes_before_meta_main_as_for_ansible(tmp_path):
    write(tmp_path, "roles/one/meta/argument_specs.yml", "argument_specs:\n  main: {options: {new: {}}}\n")
    write(tmp_path, "roles/one/meta/main.yml", "argument_specs:\n  main: {options: {old: {}}}\n")
    assert collection_variables(tmp_path) == {"new"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("argument_specs: [unclosed\n", "cannot read"), ("argument_specs: [a, b]\n", "is not a mapping")],
)
def test_broken_argument_specs_fail_naming_the_file(tmp_path, text, message):
    write(tmp_path, "roles/one/meta/argument_specs.yml", text)
    with pytest.raises(AnsibleLookupError, match=message) as raised:
        collection_variables(tmp_path)
    assert "roles/one/meta/argument_specs.yml" in str(raised.value)


def test_the_lookup_reads_the_collection_it_is_part_of():
    assert (COLLECTION / "galaxy.yml").is_file()
    assert COLLECTION.resolve() == REPO.resolve()


def test_an_option_fails():
    with pytest.raises(AnsibleLookupError, match="takes no options, not prefix"):
        LookupModule().run([], variables={}, prefix="libvirt_admin_")
