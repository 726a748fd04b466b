"""The admin_watch source's fleet (plugin_utils/_inventory): an Ansible inventory read with ansible-core,
each host's connection variables as the watch's SSH session uses them."""

from __future__ import annotations

import json

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._inventory import InventoryError, fleet, spec_of


def test_a_yaml_inventory_with_group_vars_and_templates(tmp_path):
    inventory = {
        "all": {
            "children": {
                "compute": {
                    "hosts": {
                        "host01": {"ansible_host": "127.0.0.2", "ansible_port": 2222},
                        "host02": {"ansible_host": "{{ '127.0.0.' ~ (1 + 2) }}", "ansible_become": "yes"},
                    },
                    "vars": {
                        "ansible_user": "ops",
                        "ansible_ssh_private_key_file": "/keys/id_ed25519",
                        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o 'UserKnownHostsFile=/dev/null'",
                        "ansible_python_interpreter": "/usr/bin/python3.11",
                    },
                },
                "control": {"hosts": {"localhost": {"ansible_connection": "local"}}},
            }
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(inventory))
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "compute.yml").write_text("ansible_ssh_extra_args: -o ConnectionAttempts=2\n")
    specs = {spec.name: spec for spec in fleet(str(path), "all")}
    assert sorted(specs) == ["host01", "host02", "localhost"]
    one, two = specs["host01"], specs["host02"]
    assert (one.address, one.port, one.user, one.private_key_file) == ("127.0.0.2", 2222, "ops", "/keys/id_ed25519")
    assert one.ssh_args == [
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectionAttempts=2",
    ]
    assert (one.become, one.python) == (False, "/usr/bin/python3.11")
    assert (two.address, two.port, two.become, two.become_user) == ("127.0.0.3", None, True, "root")
    assert specs["localhost"].local
    assert [spec.name for spec in fleet(str(path), "compute:!host02")] == ["host01"]


def test_a_host_list_inventory():
    specs = fleet("192.0.2.10,192.0.2.11,", "all")
    assert [(spec.name, spec.address, spec.python) for spec in specs] == [
        ("192.0.2.10", "192.0.2.10", "/usr/bin/python3"),
        ("192.0.2.11", "192.0.2.11", "/usr/bin/python3"),
    ]


@pytest.mark.parametrize(
    ("variables", "error"),
    [
        ({"ansible_connection": "winrm"}, "ansible_connection winrm"),
        ({"ansible_become": True, "ansible_become_method": "su"}, "ansible_become_method su"),
    ],
)
def test_what_the_watch_cannot_do_fails_naming_the_host(variables, error):
    with pytest.raises(InventoryError, match=error) as raised:
        spec_of("host07", variables)
    assert str(raised.value).startswith("host07: ")


def test_interpreter_discovery_is_not_run():
    assert spec_of("h", {"ansible_python_interpreter": "auto_silent"}).python == "/usr/bin/python3"
