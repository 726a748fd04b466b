#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_clients
short_description: Set the client limits of a running libvirt daemon's server and disconnect clients by policy
version_added: 0.1.0
description:
  - Sets how many clients one server of a running libvirt daemon accepts, like
    C(virt-admin srv-clients-set), and disconnects the clients that match a filter, like
    C(virt-admin client-disconnect), through libvirt's admin API and without a restart.
  - Only the limits given are managed. The merged limits are validated, and the disconnect filter
    checked, before anything is changed; only the limits that differ are sent, in one call.
  - Runtime settings last until the daemon restarts; O(persist=true) writes them to the daemon's config
    file too.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.connection.server
  - virtops.libvirt_admin.client_filter.disconnect
  - virtops.libvirt_admin.persist
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.state
options:
  max_clients:
    description:
      - Maximum number of clients the server accepts at once.
      - Setting it below the number of clients connected now is allowed; the connected clients stay,
        and new clients are not served (they wait, unanswered) until enough clients have left or the
        limit is raised.
    type: int
  max_unauth_clients:
    description:
      - Maximum number of clients waiting for authentication at once. Must not be larger than the
        resulting O(max_clients) (the one given, or the server's current one).
    type: int
notes:
  - At least one of O(max_clients), O(max_unauth_clients) and O(disconnect) is required. Limits are
    whole numbers from 0 to 4294967295.
  - In check mode the module reports the clients it would disconnect, and disconnects none.
  - Given O(disconnect) and limits together, the module disconnects the clients first and then sets
    the limits, so that a failure to read the clients leaves the limits as they were.
  - A disconnected client may connect again; the module does not block it. Lower O(max_clients) or
    change the daemon's access control for that.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_client_info
  - module: virtops.libvirt_admin.libvirt_admin_server_info
"""

EXAMPLES = r"""
- name: Let libvirtd accept more clients
  virtops.libvirt_admin.libvirt_admin_clients:
    max_clients: 10000
    max_unauth_clients: 50
  become: true

- name: Drop read-write TCP clients from outside the management network
  virtops.libvirt_admin.libvirt_admin_clients:
    disconnect:
      transport: tcp
      readonly: false
      sock_addr: "192.0.2.*"
  become: true

- name: Drop clients of one process
  virtops.libvirt_admin.libvirt_admin_clients:
    daemon: virtqemud
    disconnect:
      unix_process_id: 4242
  become: true

- name: Drop every client of libvirtd (explicitly)
  virtops.libvirt_admin.libvirt_admin_clients:
    disconnect:
      all: true
  become: true
"""

RETURN = r"""
config_file:
  description: The config file the settings were written to (with O(persist=true)).
  returned: when O(persist=true)
  type: str
  sample: /etc/libvirt/libvirtd.conf
backup_file:
  description: The copy of the config file made before changing it (with O(backup=true)).
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/libvirt/libvirtd.conf.2026-11-26@14:00:15~
server:
  description: Name of the server acted on.
  returned: success
  type: str
  sample: libvirtd
limits:
  description:
    - The server's client limits and counts after the change, read back from the daemon.
    - In check mode, the limits the change would set, and the current counts.
  returned: success
  type: dict
  contains:
    max_clients:
      description: Maximum number of clients the server accepts.
      type: int
      returned: success
      sample: 5000
    clients:
      description: Number of clients connected now.
      type: int
      returned: success
      sample: 3
    max_unauth_clients:
      description: Maximum number of clients waiting for authentication.
      type: int
      returned: success
      sample: 20
    unauth_clients:
      description: Number of clients waiting for authentication now.
      type: int
      returned: success
      sample: 0
disconnected:
  description:
    - The clients disconnected (in check mode, the ones that would be), with the same keys as
      RV(virtops.libvirt_admin.libvirt_admin_client_info#module:clients) returns.
    - Empty when O(disconnect) is not given or no client matches.
  returned: success
  type: list
  elements: dict
  sample:
    - id: 7
      server: libvirtd
      transport: tcp
      connected_since: 1795701339
      connected_since_iso: "2026-11-26T13:55:39Z"
      readonly: false
      sock_addr: "192.0.2.10:53612"
      sasl_user_name: null
      x509_dname: null
      unix_user_id: null
      unix_user_name: null
      unix_group_id: null
      unix_group_name: null
      unix_process_id: null
      selinux_context: null
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls, _clients, _persist
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import SERVER_ARGSPEC, AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import PERSIST_ARGSPEC
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import (
    CLIENT_LIMIT_SETTINGS,
    read_client_limits,
    resolve_server,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._state import changes_between, read_back

DISCONNECT_OPTIONS = {"all": {"type": "bool", "default": False}, **_clients.FILTER_OPTIONS}


def disconnect_criteria(module: AdminModule) -> dict | None:
    """The disconnect filter's criteria ({} for all: true), or None when not asked to disconnect."""
    disconnect = module.params["disconnect"]
    if disconnect is None:
        return None
    criteria = _clients.criteria_of(disconnect)
    if disconnect["all"] and criteria:
        module.fail_json(
            msg=f"disconnect: all: true drops every client and cannot be combined with {', '.join(sorted(criteria))}; "
            "give either all: true or the criteria"
        )
    if not disconnect["all"] and not criteria:
        module.fail_json(
            msg="disconnect needs at least one criterion (" + ", ".join(_clients.FILTER_OPTIONS) + "), "
            "so that a typo cannot drop every client; to disconnect every client, say all: true"
        )
    with module.failing_as("use the client filter disconnect on"):
        _clients.validate_criteria(criteria)
    return criteria


def main() -> None:
    module = AdminModule(
        argument_spec={
            **SERVER_ARGSPEC,
            "max_clients": {"type": "int"},
            "max_unauth_clients": {"type": "int"},
            "disconnect": {"type": "dict", "options": DISCONNECT_OPTIONS},
            **PERSIST_ARGSPEC,
        },
        required_one_of=[(*CLIENT_LIMIT_SETTINGS, "disconnect")],
        supports_check_mode=True,
    )
    desired = {key: module.params[key] for key in CLIENT_LIMIT_SETTINGS if module.params[key] is not None}
    criteria = disconnect_criteria(module)

    with module.connection(_clientcalls.open_connection) as conn:
        with module.failing_as("find the server on"):
            server = resolve_server(conn, module.params["server"])
        with module.failing_as("read the client limits of", server):
            before = read_client_limits(conn, server)
        with module.failing_as("change the client limits of", server):
            _clients.validate_limits(before, desired)
            config = _persist.plan(module.params, module.uri, [(server, "clients", desired)])
        changes = changes_between(before, desired)

        untouched_file = _persist.untouched_note(config)
        if module.check_mode:
            after, disconnected = {**before, **changes}, []
            if criteria is not None:
                with module.failing_as("list the clients of", server):
                    disconnected = _clients.to_disconnect(conn, server, criteria)
        else:
            # Clients first: a failure to read them then leaves the limits as they were.
            disconnected = []
            if criteria is not None:
                with module.failing_as("disconnect clients of", server, untouched_file):
                    disconnected = _clients.disconnect_clients(conn, server, criteria)
            if changes:
                with module.failing_as("change the client limits of", server, untouched_file):
                    _clients.apply_limits(conn, server, changes)
            with module.failing_as("read the client limits of", server, untouched_file):
                after = read_back(read_client_limits, conn, server) if changes else read_client_limits(conn, server)
        result = _persist.write_config(module, config, bool(changes), server)

    changed = bool(changes or disconnected) or _persist.file_changes(config)
    result.update(changed=changed, server=server, limits=after, disconnected=disconnected)
    if module._diff:
        before_state = {key: before[key] for key in desired}
        after_state = {**before_state, **changes}
        if criteria is not None:
            before_state["matching_clients"] = [_clients.summary(record) for record in disconnected]
            after_state["matching_clients"] = []
        result["diff"] = _persist.diff_with_config(before_state, after_state, list(before_state), config)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
