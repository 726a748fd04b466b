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
      - For the V(admin) server, a new value must be above the number of admin clients connected now
        (this task's own connection among them), else the task fails before anything changes. At the
        limit the daemon stops accepting admin connections, and C(virt-admin) and every task of this
        collection would wait unanswered until the daemon is restarted.
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
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
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

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clients, _pipeline
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._disconnect import DisconnectPart
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._limits import SETTINGS, ClientLimitsPart
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import SERVER_ARGSPEC, AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import PERSIST_ARGSPEC

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
            **{key: {"type": "int"} for key in SETTINGS},
            "disconnect": {"type": "dict", "options": DISCONNECT_OPTIONS},
            **PERSIST_ARGSPEC,
        },
        required_one_of=[(*SETTINGS, "disconnect")],
        supports_check_mode=True,
    )
    desired = {key: module.params[key] for key in SETTINGS if module.params[key] is not None}
    criteria = disconnect_criteria(module)
    limits = ClientLimitsPart(desired, module.params["server"])
    # Clients first: a failure to read them then leaves the limits as they were.
    disconnect = None if criteria is None else DisconnectPart(criteria, limits.server, module.check_mode)
    result = _pipeline.run(module, [part for part in (disconnect, limits) if part is not None])
    disconnected = [] if disconnect is None else disconnect.disconnected
    module.exit_json(**result, server=limits.server, limits=limits.after, disconnected=disconnected)


if __name__ == "__main__":
    main()
