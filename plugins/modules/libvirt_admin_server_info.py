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

- name: Report the main server of virtqemud only
  virtops.libvirt_admin.libvirt_admin_server_info:
    daemon: virtqemud
    servers:
      - virtqemud
  become: true
"""

RETURN = r"""
uri:
  description: The admin URI of the connection, as libvirt reports it.
  returned: success
  type: str
  sample: libvirtd:///system
version:
  description: Version of libvirt the daemon runs, as X.Y.Z.
  returned: success
  type: str
  sample: 9.0.0
logging:
  description:
    - The daemon's log outputs and filters, as M(virtops.libvirt_admin.libvirt_admin_logging) takes them.
    - V(null) for a daemon older than libvirt 3.0.0, which cannot report them.
  returned: success
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
  returned: success
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
        - V(true) when every worker thread is busy and no more may be started, so the next
          request waits in the job queue.
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

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logging
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import version_number, version_string
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import describe_servers


def main() -> None:
    module = AdminModule(
        argument_spec={"servers": {"type": "list", "elements": "str"}},
        supports_check_mode=True,
    )
    with module.connection() as conn, module.failing_as("read the servers of"):
        version = conn.daemon_version()
        result = {
            "changed": False,
            "uri": conn.uri(),
            "version": version_string(version),
            "servers": describe_servers(conn, module.params["servers"]),
            "logging": (
                _logging.rendered(_logging.read(conn)) if version >= version_number(_logging.LOGGING_SINCE) else None
            ),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
