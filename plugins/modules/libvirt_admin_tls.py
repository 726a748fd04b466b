#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_tls
short_description: Reload the TLS certificate, key, CA and CRL of a running libvirt daemon's server
version_added: 0.1.0
description:
  - Makes one server of a running libvirt daemon re-read its TLS files through libvirt's admin API,
    without a restart, like C(virt-admin server-update-tls). Use it after replacing the files, for
    example when a certificate is renewed or the CA changes.
  - New TLS connections are served the new certificate and checked against the new CA certificate and
    CRL. Connections already open stay open.
  - The daemon re-reads the default locations, not the C(key_file), C(cert_file), C(ca_file) and
    C(crl_file) of its configuration file. For a daemon run by root these are
    C(/etc/pki/CA/cacert.pem), C(/etc/pki/CA/cacrl.pem) (when it exists),
    C(/etc/pki/libvirt/servercert.pem) and C(/etc/pki/libvirt/private/serverkey.pem); a daemon run by
    another user looks in C(~/.pki/libvirt/) first.
  - If the new files cannot be loaded (missing, unreadable, a key that does not match the certificate,
    a certificate the CA did not sign), the task fails with libvirt's reason and the server keeps
    serving the files it had loaded before.
  - Every run that is not in check mode reloads and reports a change; the module cannot tell whether
    the files differ from the ones the server has loaded.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.connection.server
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.STATE
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is reloaded and the task reports a change, because a real run always
        reloads. Whether the server has a TLS listener and whether the new files load are only known
        when the daemon tries.
  diff_mode:
    support: none
    details:
      - The admin API does not report which certificate a server has loaded, so there is nothing to
        compare.
  idempotent:
    support: none
    details:
      - Every run outside check mode reloads the files and reports a change, whether or not they changed.
        Run it when the files were replaced, for example from a handler notified by the tasks that
        install them.
notes:
  - Needs libvirt 6.2.0 or newer on the daemon.
  - Only a server with a TLS listener can reload. That is the daemon's own server (for example V(libvirtd)
    or V(virtproxyd)) when the daemon listens for TLS clients (C(listen_tls = 1) and C(libvirtd --listen),
    or the daemon's C(-tls.socket) systemd unit). The V(admin) server never has one. The task fails
    saying so on a server with no TLS listener.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_client_info
  - name: libvirt TLS x509 certificate setup
    description: Where libvirt's daemons and clients look for their certificates.
    link: https://libvirt.org/kbase/tlscerts.html
  - name: libvirt admin API
    description: The virAdmServerUpdateTlsFiles call this module uses.
    link: https://libvirt.org/html/libvirt-libvirt-admin.html#virAdmServerUpdateTlsFiles
"""

EXAMPLES = r"""
- name: Install the renewed server certificate and key
  ansible.builtin.copy:
    src: "{{ item.src }}"
    dest: "{{ item.dest }}"
    owner: root
    group: root
    mode: "{{ item.mode }}"
  loop:
    - {src: "pki/{{ inventory_hostname }}/servercert.pem", dest: /etc/pki/libvirt/servercert.pem, mode: "0644"}
    - {src: "pki/{{ inventory_hostname }}/serverkey.pem", dest: /etc/pki/libvirt/private/serverkey.pem, mode: "0600"}
  become: true
  notify: Reload the TLS files of libvirtd

# In the play's handlers:
- name: Reload the TLS files of libvirtd
  virtops.libvirt_admin.libvirt_admin_tls:
  become: true

- name: Reload the TLS files of virtproxyd, the remote access daemon of modular libvirt
  virtops.libvirt_admin.libvirt_admin_tls:
    daemon: virtproxyd
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
server:
  description: Name of the server acted on.
  returned: success
  type: str
  sample: libvirtd
reloaded:
  description: Whether the server reloaded its TLS files; V(false) in check mode.
  returned: success
  type: bool
  sample: true
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ADMIN_SERVER, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import SERVER_ARGSPEC, AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import resolve_server

TLS_RELOAD_SINCE = "6.2.0"
ACTION = "reload the TLS files of"
NO_TLS_SERVICE = "no tls service found"  # libvirt's words for a server with no TLS listener
LISTEN_WITH_TLS = (
    "the daemon must listen for TLS clients: set listen_tls = 1 in its configuration file and start it with "
    "--listen, or, where systemd starts it, enable its -tls.socket unit (libvirtd-tls.socket, virtproxyd-tls.socket)"
)


def _no_tls_listener(server: str) -> str:
    return f"server '{server}' has no TLS listener; {LISTEN_WITH_TLS}"


def _admin_server_error(own_server: str | None) -> LibvirtAdminError:
    """The admin server only serves the daemon's local admin socket: it never has TLS."""
    served_by = (
        f"TLS clients are served by server '{own_server}', and only when the daemon listens for them"
        if own_server
        else "TLS clients are served by the daemon's own server, and only when the daemon listens for them"
    )
    return LibvirtAdminError(
        f"the admin server has no TLS listener (it only serves the daemon's local admin socket); {served_by}"
    )


def _explained(error: LibvirtAdminError, server: str) -> LibvirtAdminError:
    """libvirt's error, with what the user can do about it where we know."""
    if NO_TLS_SERVICE in error.message:
        return LibvirtAdminError(f"{error.message}; {_no_tls_listener(server)}", error.code)
    if "pki/" in error.message:  # the new files did not load: libvirt kept the old ones
        return LibvirtAdminError(
            f"{error.message}; the server keeps serving the TLS files it had loaded before: "
            "fix the files on the daemon's host and run the task again",
            error.code,
        )
    return error


def main() -> None:
    module = AdminModule(argument_spec={**SERVER_ARGSPEC}, supports_check_mode=True)

    with module.connection() as conn:
        module.require_daemon_version(
            conn,
            TLS_RELOAD_SINCE,
            "Reloading TLS files",
            "upgrade libvirt there, or restart the daemon to load new files",
        )
        with module.failing_as("find the server on"):
            names = conn.list_servers()
            server = resolve_server(names, module.params["server"])
        if server == ADMIN_SERVER:
            try:
                own_server = resolve_server(names, None)
            except LibvirtAdminError:
                own_server = None
            module.fail_admin(ACTION, _admin_server_error(own_server), server)
        if not module.check_mode:
            try:
                conn.update_tls_files(server)
            except LibvirtAdminError as error:
                module.fail_admin(ACTION, _explained(error, server), server)

    module.exit_json(changed=True, server=server, reloaded=not module.check_mode)


if __name__ == "__main__":
    main()
