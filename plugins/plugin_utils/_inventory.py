# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The admin_watch event source's fleet: an Ansible inventory's hosts and how to reach each one.

The inventory is read with ansible-core's own InventoryManager and VariableManager, as
ansible-playbook reads it (inventory plugins, group_vars and host_vars beside it, templated values),
and each host's connection variables become an _ssh_relay.HostSpec:

    ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file (or ansible_private_key_file),
    ansible_ssh_common_args and ansible_ssh_extra_args, ansible_become, ansible_become_user,
    ansible_become_method (sudo only: the relay's stdin carries the admin protocol, so no password
    can be typed), ansible_become_exe, ansible_python_interpreter (interpreter discovery is not run:
    /usr/bin/python3 unless set), and ansible_connection (local: watched on the controller itself).
"""

from __future__ import annotations

import shlex

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._ssh_relay import HostSpec

SSH_CONNECTIONS = ("ssh", "smart", "ansible.builtin.ssh", "paramiko", "paramiko_ssh", "ansible.builtin.paramiko_ssh")
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")
DEFAULT_PYTHON = "/usr/bin/python3"


class InventoryError(ValueError):
    pass


def _boolean(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def spec_of(name: str, variables: dict) -> HostSpec:
    """A host's HostSpec from its (templated) variables; InventoryError for what the watch cannot do."""

    def var(*names, default=None):
        for key in names:
            if variables.get(key) not in (None, ""):
                return variables[key]
        return default

    connection = str(var("ansible_connection", default="ssh"))
    if connection in LOCAL_CONNECTIONS:
        return HostSpec(name, local=True)
    if connection not in SSH_CONNECTIONS:
        raise InventoryError(f"{name}: ansible_connection {connection} is not one the watch can use (ssh or local)")
    become = _boolean(var("ansible_become", default=False))
    method = str(var("ansible_become_method", default="sudo"))
    if become and method not in ("sudo", "ansible.builtin.sudo"):
        raise InventoryError(
            f"{name}: ansible_become_method {method} is not supported by the watch: use sudo "
            "(passwordless, with -n) or log in as the daemons' user"
        )
    python = str(var("ansible_python_interpreter", default=DEFAULT_PYTHON))
    if python.startswith("auto"):
        python = DEFAULT_PYTHON
    args = []
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if var(key):
            args += shlex.split(str(var(key)))
    port = var("ansible_port", "ansible_ssh_port")
    return HostSpec(
        name,
        address=str(var("ansible_host", "ansible_ssh_host", default=name)),
        port=int(port) if port is not None else None,
        user=var("ansible_user", "ansible_ssh_user"),
        private_key_file=var("ansible_ssh_private_key_file", "ansible_private_key_file"),
        ssh_args=args,
        become=become,
        become_user=str(var("ansible_become_user", default="root")),
        become_exe=str(var("ansible_become_exe", default="sudo")),
        python=python,
    )


CONNECTION_VARS = (
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_method",
    "ansible_become_exe",
    "ansible_python_interpreter",
)


def fleet(sources, pattern: str = "all") -> list:
    """HostSpec of every host of the inventory sources (a path, a comma-separated host list, or a list
    of those) that matches pattern, in the inventory's order."""
    try:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.template import Templar
        from ansible.vars.manager import VariableManager
    except ImportError as error:
        raise InventoryError(f"reading an inventory needs ansible-core on the controller: {error}") from error
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=sources if isinstance(sources, list) else [sources])
    manager = VariableManager(loader=loader, inventory=inventory)
    specs = []
    for host in inventory.get_hosts(pattern):
        variables = manager.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=variables)
        wanted = {key: templar.template(variables[key]) for key in CONNECTION_VARS if key in variables}
        specs.append(spec_of(host.name, wanted))
    return specs
