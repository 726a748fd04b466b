#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_daemon
short_description: Set the whole admin-side state of a running libvirt daemon in one task
version_added: 0.1.0
description:
  - Sets the thread pools and client limits of any of a running libvirt daemon's servers, and the
    daemon's log outputs and filters, in one task over one admin connection, without a restart.
  - It does what M(virtops.libvirt_admin.libvirt_admin_threadpool),
    M(virtops.libvirt_admin.libvirt_admin_clients) (limits) and M(virtops.libvirt_admin.libvirt_admin_logging)
    do, with the same validation, comparison, check mode and diff, and one diff for the whole daemon.
    It exists because a fleet run costs controller time per task per host.
  - Only the settings given are managed. Every server named must exist, and every setting is validated
    against the server's current state before anything changes; only what differs is sent.
  - The parts are applied in order, each server's thread pool then its client limits, then logging.
    If one fails, the parts changed before it are put back and the task fails saying so.
  - Runtime settings last until the daemon restarts; O(persist=true) writes every managed setting to
    the daemon's config file too, in one edit.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.persist
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.state
options:
  servers:
    description:
      - The servers to manage, a dictionary from server name (V(libvirtd), V(virtqemud), V(virtlogd),
        V(admin), ...; see M(virtops.libvirt_admin.libvirt_admin_server_info)) to its settings.
      - Each server's settings are any of C(min_workers), C(max_workers), C(prio_workers) (as in
        M(virtops.libvirt_admin.libvirt_admin_threadpool)) and C(max_clients), C(max_unauth_clients) (as
        in M(virtops.libvirt_admin.libvirt_admin_clients)), whole numbers from 0 to 4294967295. A
        setting left out, or set to null, is left as it is.
      - A server whose pool is fixed (C(max_workers) 0, the servers of virtlogd and virtlockd) takes
        client limits only.
      - The V(admin) server's C(max_clients) is checked as
        M(virtops.libvirt_admin.libvirt_admin_clients) checks it, so that the next admin connection
        always has room.
    type: dict
  logging:
    description:
      - The daemon's logging, as in M(virtops.libvirt_admin.libvirt_admin_logging).
    type: dict
    suboptions:
      outputs:
        description:
          - The daemon's log outputs, each C(LEVEL:stderr), C(LEVEL:journald), C(LEVEL:syslog:IDENT) or
            C(LEVEL:file:PATH). Order does not matter. Must not be empty.
        type: list
        elements: raw
      filters:
        description:
          - The daemon's log filters, each C(LEVEL:MATCH). Order matters. An empty list removes every filter.
        type: list
        elements: raw
      unsafe_outputs:
        description:
          - Skip the checks of C(file) outputs, as
            O(virtops.libvirt_admin.libvirt_admin_logging#module:unsafe_outputs) of
            M(virtops.libvirt_admin.libvirt_admin_logging) does.
        type: bool
        default: false
        version_added: 0.2.0
notes:
  - At least one of O(servers) and O(logging) is required.
  - Changing logging needs libvirt 3.0.0 or newer on the daemon.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_threadpool
  - module: virtops.libvirt_admin.libvirt_admin_clients
  - module: virtops.libvirt_admin.libvirt_admin_logging
  - module: virtops.libvirt_admin.libvirt_admin_server_info
"""

EXAMPLES = r"""
- name: Keep libvirtd's pools, limits and logging as declared
  virtops.libvirt_admin.libvirt_admin_daemon:
    servers:
      libvirtd:
        min_workers: 8
        max_workers: 40
        prio_workers: 8
        max_clients: 5000
        max_unauth_clients: 50
      admin:
        max_workers: 10
    logging:
      outputs:
        - 3:file:/var/log/libvirt/libvirtd.log
      filters:
        - 3:remote
        - 4:event
  become: true

- name: The same, and kept across daemon restarts
  virtops.libvirt_admin.libvirt_admin_daemon:
    daemon: virtqemud
    servers:
      virtqemud:
        max_workers: 60
    persist: true
    backup: true
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
uri:
  description: The URI of the admin connection, as the daemon reports it.
  returned: success
  type: str
  sample: libvirtd:///system
servers:
  description:
    - Every managed server, by name, with the parts managed, read back from the daemon after the change.
    - In check mode, what the change would set, with the counters predicted.
  returned: success
  type: dict
  sample:
    libvirtd:
      threadpool:
        min_workers: 8
        max_workers: 40
        prio_workers: 8
        workers: 8
        free_workers: 8
        job_queue_depth: 0
      clients:
        max_clients: 5000
        clients: 2
        max_unauth_clients: 50
        unauth_clients: 0
  contains:
    threadpool:
      description:
        - The server's thread pool (C(min_workers), C(max_workers), C(prio_workers), C(workers),
          C(free_workers), C(job_queue_depth)), as M(virtops.libvirt_admin.libvirt_admin_threadpool)
          returns it.
      type: dict
      returned: when the server's thread pool is managed
    clients:
      description:
        - The server's client limits and counts (C(max_clients), C(clients), C(max_unauth_clients),
          C(unauth_clients)), as M(virtops.libvirt_admin.libvirt_admin_clients) returns them in
          RV(virtops.libvirt_admin.libvirt_admin_clients#module:limits).
      type: dict
      returned: when the server's client limits are managed
logging:
  description: The daemon's log outputs and filters after the change (predicted in check mode).
  returned: when O(logging) is given
  type: dict
  contains:
    outputs:
      description: The log outputs.
      type: list
      elements: str
      returned: when O(logging) is given
      sample: ["3:file:/var/log/libvirt/libvirtd.log"]
    filters:
      description: The log filters, in order.
      type: list
      elements: str
      returned: when O(logging) is given
      sample: ["3:remote", "4:event"]
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
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _daemon, _logging, _logstrings, _pipeline
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import PERSIST_ARGSPEC


def main() -> None:
    module = AdminModule(
        argument_spec={
            "servers": {"type": "dict"},
            "logging": {"type": "dict", "options": _logging.LOGGING_ARGSPEC},
            **PERSIST_ARGSPEC,
        },
        required_one_of=[("servers", "logging")],
        supports_check_mode=True,
    )
    with module.failing_as("set the state of"):
        parts = _daemon.server_parts(module.params["servers"])
        logging = _daemon.logging_part(module.params["logging"])
    if logging is None and not parts:
        module.fail_json(
            msg="Nothing to manage: give servers with at least one setting, or logging with outputs or filters"
        )

    def uri(conn) -> dict:
        with module.failing_as("read the URI of"):
            return {"uri": conn.uri()}

    result = _pipeline.run(module, parts + ([logging] if logging else []), finish=uri)
    result["servers"] = {}
    for part in parts:
        result["servers"].setdefault(part.server, {})[part.kind] = part.after
    if logging is not None:
        result["logging"] = _logstrings.rendered(logging.after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
