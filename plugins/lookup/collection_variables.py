# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: collection_variables
version_added: 0.2.0
author:
  - Virtops Team (@virtops)
short_description: The names of the variables this collection's roles and playbooks read
description:
  - Returns, sorted and each once, the names of the variables that the roles and playbooks of
    C(virtops.libvirt_admin) read, as each states them in one place of its own, read from the
    collection's files on the controller.
  - A role states its variables in C(meta/argument_specs.yml) (the options of its entry points; or
    C(argument_specs) in C(meta/main.yml)), which also documents them and validates them when it starts.
  - A playbook states its variables in its header comment, the one the docs site's page of playbooks
    shows, under a line that starts with C(# Variables), one entry a line as C(#   NAME   what it does),
    the names of one entry separated by C(,) or C(/); the lines of an entry after its first are
    indented further, and the list ends at the first line indented less, or at the end of the header.
  - Role C(virtops.libvirt_admin.daemon_state) fails a host that has a variable starting with
    C(libvirt_admin_) which is not among them, as a typo.
options:
  _terms:
    description:
      - Prefixes; only names that start with one of them are returned. Without any, every name.
    type: list
    elements: str
    required: false
"""

EXAMPLES = r"""
- name: Show the variables of the collection that start with libvirt_admin_
  ansible.builtin.debug:
    msg: "{{ query('virtops.libvirt_admin.collection_variables', 'libvirt_admin_') }}"

- name: Fail on a host variable of the collection's prefixes that nothing reads
  ansible.builtin.assert:
    that: unknown | length == 0
    fail_msg: "Unknown variables: {{ unknown | join(', ') }}"
  vars:
    unknown: >-
      {{ query('ansible.builtin.varnames', '^libvirt_admin_', '^fleet_report_')
         | reject('in', query('virtops.libvirt_admin.collection_variables')) }}
"""

RETURN = r"""
_raw:
  description: The names, sorted.
  type: list
  elements: str
"""

import re
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.yaml import yaml_load
from ansible.plugins.lookup import LookupBase
from yaml import YAMLError

COLLECTION = Path(__file__).resolve().parents[2]
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# "#   name[, name | / name]...   what it does": exactly three spaces before the names.
ENTRY = re.compile(rf"#   (?P<names>{NAME}(?:\s*[,/]\s*{NAME})*)(?:\s{{2,}}|\s*$)")


def collection_variables(root: Path) -> set:
    """Every variable the roles and playbooks of the collection at root state."""
    names = set()
    for role in sorted(path for path in (root / "roles").glob("*") if path.is_dir()):
        names |= role_variables(role)
    for playbook in sorted([*(root / "playbooks").glob("*.yml"), *(root / "playbooks").glob("*.yaml")]):
        names |= playbook_variables(playbook.read_text())
    return names


def role_variables(role: Path) -> set:
    """The options of every entry point of a role's argument specs."""
    names = set()
    for entry in argument_specs(role).values():
        names |= set((entry or {}).get("options") or {})
    return names


def argument_specs(role: Path) -> dict:
    """A role's argument specs, from where Ansible looks first: meta/argument_specs.yml, then meta/main.yml."""
    for name in ("argument_specs.yml", "argument_specs.yaml", "main.yml", "main.yaml"):
        path = role / "meta" / name
        if not path.is_file():
            continue
        try:
            meta = yaml_load(path.read_text()) or {}
        except YAMLError as error:
            raise AnsibleLookupError(f"collection_variables: cannot read {path}: {error}") from None
        specs = meta.get("argument_specs") if isinstance(meta, dict) else None
        if specs is not None and not isinstance(specs, dict):
            raise AnsibleLookupError(f"collection_variables: argument_specs in {path} is not a mapping")
        if specs is not None or name.startswith("argument_specs"):
            return specs or {}
    return {}


def playbook_variables(text: str) -> set:
    """The names listed under "# Variables" in a playbook's header comment."""
    names, listing = set(), False
    for line in header(text):
        if line.startswith("# Variables"):
            listing = True
        elif listing and not line.startswith("#  "):
            listing = False
        elif listing and (entry := ENTRY.match(line)):
            names |= set(re.split(r"\s*[,/]\s*", entry.group("names")))
    return names


def header(text: str) -> list:
    """The comment lines at the top of a playbook, after an optional '---'."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        lines = lines[1:]
    comments = []
    for line in lines:
        if not line.startswith("#"):
            break
        comments.append(line.rstrip())
    return comments


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if kwargs:
            raise AnsibleLookupError(f"collection_variables: it takes no options, not {', '.join(sorted(kwargs))}")
        if not all(isinstance(term, str) for term in terms):
            raise AnsibleLookupError("collection_variables: the terms are prefixes, strings")
        prefixes = tuple(terms) or ("",)
        return sorted(name for name in collection_variables(COLLECTION) if name.startswith(prefixes))
