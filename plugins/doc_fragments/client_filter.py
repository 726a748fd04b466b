# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The client filter as libvirt_admin_client_info's match option. ansible-test wants each
    # fragment as one string literal, so the criteria stand twice: keep DOCUMENTATION and
    # DISCONNECT in step (a unit test checks that they are).
    DOCUMENTATION = r"""
options:
  match:
    description:
      - Report only the clients that meet every criterion given here. Default is every client.
      - O(match.ids), O(match.transport) and O(match.min_age) are answered from the daemon's list of
        clients; every other criterion, and the record returned, takes one more call to the daemon per
        client, made only for the clients those three let through.
      - An unknown key or a value of the wrong type is an error.
    type: dict
    suboptions:
      ids:
        description:
          - Client ids, as C(virt-admin srv-clients-list) lists them and
            M(virtops.libvirt_admin.libvirt_admin_client_info) returns them.
        type: list
        elements: int
      transport:
        description: How the client is connected.
        type: str
        choices: [unix, tcp, tls]
      readonly:
        description: Whether the connection is read-only.
        type: bool
      unix_user_name:
        description: User name of a UNIX socket client's process.
        type: str
      unix_user_id:
        description: User id of a UNIX socket client's process.
        type: int
      unix_group_name:
        description: Group name of a UNIX socket client's process.
        type: str
      unix_process_id:
        description: Process id of a UNIX socket client.
        type: int
      sock_addr:
        description:
          - Shell-style pattern (C(*), C(?), C([...])) for the C(address:port) of a TCP or TLS client,
            for example V(10.1.*) or V(192.0.2.10:*). A value without wildcards matches itself, so an IPv6
            address such as V([2001:db8::1]:5000) can be given as it is.
        type: str
      sasl_user_name:
        description: Shell-style pattern for the SASL user name.
        type: str
      x509_dname:
        description: Shell-style pattern for the distinguished name of a TLS client's certificate.
        type: str
      min_age:
        description:
          - Connected at least this many seconds ago.
          - Clients connected before the daemon last re-executed itself have no known time and always
            meet this criterion.
        type: int
"""

    # The client filter as libvirt_admin_clients' disconnect option.
    DISCONNECT = r"""
options:
  disconnect:
    description:
      - Disconnect every client of the server that meets every criterion given here.
      - At least one criterion is required, so that a typo cannot drop every client;
        O(disconnect.all=true) is the explicit way to disconnect every client.
      - The module's own admin connection is never disconnected. A client that leaves on its own
        between listing and disconnecting is not an error.
      - O(disconnect.ids), O(disconnect.transport) and O(disconnect.min_age) are answered from the
        daemon's list of clients; every other criterion, and the record returned, takes one more call to
        the daemon per client, made only for the clients those three let through. Each matching client
        is disconnected right after it is read.
      - An unknown key or a value of the wrong type is an error.
    type: dict
    suboptions:
      all:
        description:
          - Disconnect every client of the server. Cannot be combined with other criteria.
        type: bool
        default: false
      ids:
        description:
          - Client ids, as C(virt-admin srv-clients-list) lists them and
            M(virtops.libvirt_admin.libvirt_admin_client_info) returns them.
        type: list
        elements: int
      transport:
        description: How the client is connected.
        type: str
        choices: [unix, tcp, tls]
      readonly:
        description: Whether the connection is read-only.
        type: bool
      unix_user_name:
        description: User name of a UNIX socket client's process.
        type: str
      unix_user_id:
        description: User id of a UNIX socket client's process.
        type: int
      unix_group_name:
        description: Group name of a UNIX socket client's process.
        type: str
      unix_process_id:
        description: Process id of a UNIX socket client.
        type: int
      sock_addr:
        description:
          - Shell-style pattern (C(*), C(?), C([...])) for the C(address:port) of a TCP or TLS client,
            for example V(10.1.*) or V(192.0.2.10:*). A value without wildcards matches itself, so an IPv6
            address such as V([2001:db8::1]:5000) can be given as it is.
        type: str
      sasl_user_name:
        description: Shell-style pattern for the SASL user name.
        type: str
      x509_dname:
        description: Shell-style pattern for the distinguished name of a TLS client's certificate.
        type: str
      min_age:
        description:
          - Connected at least this many seconds ago.
          - Clients connected before the daemon last re-executed itself have no known time and always
            meet this criterion.
        type: int
"""
