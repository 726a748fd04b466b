#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_server_info
short_description: Report the servers of a running libvirt daemon, their worker pools and client counts
version_added: 0.1.0
description:
  - Reads, through libvirt's admin API, every server of a running libvirt daemon (or the ones named),
    with its worker thread pool, its client limits and current client counts, and whether its pool is
    exhausted, so that the server hitting its limit on active workers stands out; and the daemon's
    log outputs and filters.
  - Never changes anything.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.info
options:
  servers:
    description:
      - Names of the servers to report. Default is every server of the daemon.
      - The task fails, listing the servers there are, when a name is not one of them.
    type: list
    elements: str
  discover:
    description:
      - Report every daemon that has an admin socket on the host instead of one daemon, in one task;
        the system daemons (sockets in C(/run/libvirt)) and, for a caller other than root, the caller's
        session daemons (sockets in C($XDG_RUNTIME_DIR/libvirt)). The result is then RV(daemons).
      - A daemon that cannot be read (for example a socket left behind by a daemon that is gone, or one
        the caller may not use) is reported with RV(daemons[].error) instead of failing the task.
      - Mutually exclusive with O(uri), O(daemon) and O(servers).
    type: bool
    default: false
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_threadpool
"""

EXAMPLES = r"""
- name: Report every server of libvirtd
  virtops.libvirt_admin.libvirt_admin_server_info:
  become: true
  register: libvirtd_info

- name: Warn about servers whose workers are all busy
  ansible.builtin.debug:
    msg: "{{ item.name }} has {{ item.threadpool.job_queue_depth }} queued jobs"
  loop: "{{ libvirtd_info.servers | selectattr('exhausted') }}"
  loop_control:
    label: "{{ item.name }}"

- name: Report every libvirt daemon of the host
  virtops.libvirt_admin.libvirt_admin_server_info:
    discover: true
  become: true
  register: host_daemons

- name: Report the main server of virtqemud only
  virtops.libvirt_admin.libvirt_admin_server_info:
    daemon: virtqemud
    servers:
      - virtqemud
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
daemons:
  description:
    - With O(discover=true), one entry per daemon found, each with RV(daemons[].daemon),
      RV(daemons[].uri), RV(daemons[].error), and the keys returned for one daemon
      (RV(version), RV(servers), RV(logging)) when it could be read.
  returned: when O(discover=true)
  type: list
  elements: dict
  contains:
    daemon:
      description:
        - The daemon's name, from its admin socket's name (C(<daemon>-admin-sock)).
        - C(libvirt-admin-sock) is served by V(libvirtd), or on a host of modular daemons by V(virtproxyd),
          which stands in for it; the daemon's own server, when it could be read, says which.
      type: str
      returned: always
      sample: libvirtd
    uri:
      description: The admin URI that reaches it.
      type: str
      returned: always
      sample: libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock
    error:
      description: Why the daemon could not be read, or V(null).
      type: str
      returned: always
      sample: null
    version:
      description: Version of libvirt the daemon runs, as X.Y.Z.
      type: str
      returned: when the daemon could be read
      sample: 9.0.0
    servers:
      description: The daemon's servers, as RV(servers).
      type: list
      elements: dict
      returned: when the daemon could be read
    logging:
      description: The daemon's logging, as RV(logging).
      type: dict
      returned: when the daemon could be read
uri:
  description: The admin URI of the connection, as libvirt reports it.
  returned: when O(discover=false)
  type: str
  sample: libvirtd:///system
version:
  description: Version of libvirt the daemon runs, as X.Y.Z.
  returned: when O(discover=false)
  type: str
  sample: 9.0.0
logging:
  description:
    - The daemon's log outputs and filters, as M(virtops.libvirt_admin.libvirt_admin_logging) takes them.
    - V(null) for a daemon older than libvirt 3.0.0, which cannot report them.
  returned: when O(discover=false)
  type: dict
  contains:
    outputs:
      description: The log outputs.
      type: list
      elements: str
      returned: success
      sample: ["3:file:/var/log/libvirt/libvirtd.log"]
    filters:
      description: The log filters, in order.
      type: list
      elements: str
      returned: success
      sample: []
servers:
  description: One entry per server, in the daemon's order.
  returned: when O(discover=false)
  type: list
  elements: dict
  contains:
    name:
      description: Name of the server.
      type: str
      returned: success
      sample: libvirtd
    exhausted:
      description:
        - V(true) when every worker thread is busy and no more will be started, so the next
          request waits in the job queue. That is so at C(max_workers), and also below it while jobs are
          already queued, since libvirt then starts no new worker (raise C(min_workers) with
          C(max_workers), see M(virtops.libvirt_admin.libvirt_admin_threadpool)).
      type: bool
      returned: success
      sample: false
    threadpool:
      description: The server's worker thread pool.
      type: dict
      returned: success
      contains:
        min_workers:
          description: Minimum number of worker threads.
          type: int
          returned: success
          sample: 5
        max_workers:
          description: Maximum number of worker threads (V(0) for servers without a pool).
          type: int
          returned: success
          sample: 20
        prio_workers:
          description: Number of priority worker threads.
          type: int
          returned: success
          sample: 5
        workers:
          description: Number of worker threads that exist now.
          type: int
          returned: success
          sample: 5
        free_workers:
          description: Number of worker threads waiting for a job.
          type: int
          returned: success
          sample: 5
        busy_workers:
          description:
            - Number of worker threads running a job
              (RV(servers[].threadpool.workers) minus RV(servers[].threadpool.free_workers)).
          type: int
          returned: success
          sample: 0
        job_queue_depth:
          description: Number of jobs waiting for a worker.
          type: int
          returned: success
          sample: 0
    clients:
      description: The server's client limits and current counts.
      type: dict
      returned: success
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
          sample: 1
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
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logstrings
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    LibvirtAdminError,
    version_number,
    version_string,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import describe_servers


def describe_daemon(conn, servers: list | None) -> dict:
    """One daemon as this module returns it."""
    version = conn.daemon_version()
    return {
        "uri": conn.uri(),
        "version": version_string(version),
        "servers": describe_servers(conn, servers),
        "logging": (
            _logstrings.rendered(_logstrings.read(conn))
            if version >= version_number(_logstrings.LOGGING_SINCE)
            else None
        ),
    }


def discovered(module: AdminModule) -> list:
    """Every daemon with an admin socket on the host; one that cannot be read says why in error."""
    # Imported here: only discover needs it, and every import costs each task time.
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._discovery import discover, named_by_servers

    daemons = []
    for daemon, uri in discover():
        entry = {"daemon": daemon, "uri": uri, "error": None}
        try:
            with module.open(uri) as conn:
                entry.update(describe_daemon(conn, None))
        except LibvirtAdminError as error:
            entry["error"] = error.message
        else:
            entry["daemon"], entry["uri"] = named_by_servers(
                daemon, uri, [server["name"] for server in entry["servers"]]
            )
        daemons.append(entry)
    return daemons


def main() -> None:
    module = AdminModule(
        argument_spec={
            "servers": {"type": "list", "elements": "str"},
            "discover": {"type": "bool", "default": False},
        },
        mutually_exclusive=[("discover", "uri"), ("discover", "daemon"), ("discover", "servers")],
        supports_check_mode=True,
    )
    if module.params["discover"]:
        module.exit_json(changed=False, daemons=discovered(module))
    with module.connection() as conn, module.failing_as("read the servers of"):
        result = {"changed": False, **describe_daemon(conn, module.params["servers"])}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
