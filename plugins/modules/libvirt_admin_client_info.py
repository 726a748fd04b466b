#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_client_info
short_description: List the clients connected to a running libvirt daemon's server
version_added: 0.1.0
description:
  - Lists, through libvirt's admin API, the clients connected to one server of a running libvirt daemon,
    like C(virt-admin srv-clients-list) and C(virt-admin client-info) together, with
    how they connect, since when, read-only or not, from which address, as which user and process.
  - O(match) keeps only the clients that meet every criterion given.
  - Never changes anything.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.connection.server
  - virtops.libvirt_admin.client_filter
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.info
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_clients
"""

EXAMPLES = r"""
- name: List every client of libvirtd
  virtops.libvirt_admin.libvirt_admin_client_info:
  become: true
  register: libvirtd_clients

- name: List the read-write TCP clients connected for more than an hour
  virtops.libvirt_admin.libvirt_admin_client_info:
    match:
      transport: tcp
      readonly: false
      min_age: 3600
  become: true

- name: Who is connected to virtqemud from 10.1.*
  virtops.libvirt_admin.libvirt_admin_client_info:
    daemon: virtqemud
    match:
      sock_addr: "10.1.*"
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
server:
  description: Name of the server whose clients are listed.
  returned: success
  type: str
  sample: libvirtd
clients:
  description:
    - The clients that match, in the daemon's order. Every key is present in every entry;
      keys that the client's transport does not provide are V(null).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The client's id on its server, as C(virt-admin client-info) takes it.
      type: int
      returned: success
      sample: 12
    server:
      description: Name of the server the client is connected to.
      type: str
      returned: success
      sample: libvirtd
    transport:
      description: How the client is connected.
      type: str
      returned: success
      choices: [unix, tcp, tls]
      sample: unix
    connected_since:
      description: When the client connected, in seconds since the epoch (V(0) when libvirt does not know).
      type: int
      returned: success
      sample: 1795701339
    connected_since_iso:
      description: The same moment in UTC, ISO 8601 (V(null) when libvirt does not know).
      type: str
      returned: success
      sample: "2026-11-26T13:55:39Z"
    readonly:
      description: Whether the connection is read-only.
      type: bool
      returned: success
      sample: false
    sock_addr:
      description: Address and port of a TCP or TLS client.
      type: str
      returned: success
      sample: "192.0.2.10:53612"
    sasl_user_name:
      description: SASL user name, for clients that authenticated with SASL.
      type: str
      returned: success
      sample: admin
    x509_dname:
      description: Distinguished name of a TLS client's certificate.
      type: str
      returned: success
      sample: "CN=client1,O=Example"
    unix_user_id:
      description: User id of a UNIX socket client's process.
      type: int
      returned: success
      sample: 0
    unix_user_name:
      description: User name of a UNIX socket client's process.
      type: str
      returned: success
      sample: root
    unix_group_id:
      description: Group id of a UNIX socket client's process.
      type: int
      returned: success
      sample: 0
    unix_group_name:
      description: Group name of a UNIX socket client's process.
      type: str
      returned: success
      sample: root
    unix_process_id:
      description: Process id of a UNIX socket client.
      type: int
      returned: success
      sample: 4242
    selinux_context:
      description: SELinux context of the client, where SELinux is in use.
      type: str
      returned: success
      sample: "system_u:system_r:virtd_t:s0"
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._clients import (
    FILTER_OPTIONS,
    criteria_of,
    read_clients,
    validate_criteria,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import SERVER_ARGSPEC, AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import resolve_server


def main() -> None:
    module = AdminModule(
        argument_spec={**SERVER_ARGSPEC, "match": {"type": "dict", "options": FILTER_OPTIONS}},
        supports_check_mode=True,
    )
    criteria = criteria_of(module.params["match"])
    with module.failing_as("use the client filter match on"):
        validate_criteria(criteria)
    with module.connection() as conn:
        with module.failing_as("find the server on"):
            server = resolve_server(conn.list_servers(), module.params["server"])
        with module.failing_as("list the clients of", server):
            clients = read_clients(conn, server, criteria)
    module.exit_json(changed=False, server=server, clients=clients)


if __name__ == "__main__":
    main()
