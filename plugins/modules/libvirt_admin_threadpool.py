#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_threadpool
short_description: Set the worker thread pool of a running libvirt daemon's server
version_added: 0.1.0
description:
  - Sets the minimum, maximum and priority worker counts of one server of a running libvirt daemon
    through libvirt's admin API, without a restart, like C(virt-admin srv-threadpool-set).
  - Only the settings given are managed; the others are left as they are.
  - The merged result is validated before anything is sent, and only the settings that differ are
    sent, in one call.
  - If the daemon fails part-way through the change, the settings it had already changed are put
    back and the task fails saying so.
  - Runtime settings last until the daemon restarts; O(persist=true) writes them to the daemon's config
    file too.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.connection.server
  - virtops.libvirt_admin.persist
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.state
options:
  min_workers:
    description:
      - Number of worker threads the server keeps running even when idle.
      - Must not be larger than the resulting O(max_workers) (the one given, or the server's current one).
    type: int
  max_workers:
    description:
      - Upper limit of worker threads. When all of them are busy, further requests wait in the job queue.
      - Cannot change between V(0) and a non-zero value at runtime; servers that run without a worker pool
        (for example those of C(virtlogd) and C(virtlockd)) keep V(0).
    type: int
  prio_workers:
    description:
      - Number of priority worker threads, which serve only high-priority jobs (those that never block
        on a hypervisor) so that they run even when every ordinary worker is busy.
    type: int
notes:
  - At least one of O(min_workers), O(max_workers) and O(prio_workers) is required. Values are whole
    numbers from 0 to 4294967295; O(min_workers) and O(prio_workers) at most 100000, since the daemon
    starts that many threads at once and aborts on absurd counts.
  - Lowering O(max_workers) below the current number of workers lets the surplus threads finish their
    jobs and exit; lowering O(prio_workers) likewise lets surplus priority threads exit, which the module
    waits for briefly before reading the pool back.
  - Raising O(max_workers) alone does not help a pool whose jobs are queued already, because libvirt
    starts a worker for a new job only when no more jobs are queued than workers are free. Raise
    O(min_workers) with it; the daemon starts those workers at once and the queue drains.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_server_info
  - name: libvirt admin API
    description: The virAdmServerSetThreadPoolParameters call this module uses.
    link: https://libvirt.org/html/libvirt-libvirt-admin.html#virAdmServerSetThreadPoolParameters
"""

EXAMPLES = r"""
- name: Raise the worker pool of libvirtd
  virtops.libvirt_admin.libvirt_admin_threadpool:
    max_workers: 50
    min_workers: 10
  become: true

- name: Raise the pool now and keep it after restarts (writes /etc/libvirt/libvirtd.conf too)
  virtops.libvirt_admin.libvirt_admin_threadpool:
    max_workers: 50
    persist: true
    backup: true
  become: true

- name: Give virtqemud more priority workers
  virtops.libvirt_admin.libvirt_admin_threadpool:
    daemon: virtqemud
    prio_workers: 10
  become: true

- name: Tune the admin server of a daemon reached through its socket
  virtops.libvirt_admin.libvirt_admin_threadpool:
    uri: libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock
    server: admin
    max_workers: 10
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
threadpool:
  description:
    - The server's worker pool after the change, read back from the daemon.
    - In check mode, the state the change would lead to.
  returned: success
  type: dict
  contains:
    min_workers:
      description: Minimum number of worker threads.
      type: int
      returned: success
      sample: 10
    max_workers:
      description: Maximum number of worker threads.
      type: int
      returned: success
      sample: 50
    prio_workers:
      description: Number of priority worker threads.
      type: int
      returned: success
      sample: 5
    workers:
      description: Number of worker threads that exist now.
      type: int
      returned: success
      sample: 10
    free_workers:
      description: Number of worker threads waiting for a job.
      type: int
      returned: success
      sample: 9
    job_queue_depth:
      description: Number of jobs waiting for a worker.
      type: int
      returned: success
      sample: 0
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _pipeline
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import SERVER_ARGSPEC, AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import PERSIST_ARGSPEC
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._threadpool import SETTINGS, ThreadpoolPart


def main() -> None:
    module = AdminModule(
        argument_spec={**SERVER_ARGSPEC, **PERSIST_ARGSPEC, **{key: {"type": "int"} for key in SETTINGS}},
        required_one_of=[SETTINGS],
        supports_check_mode=True,
    )
    desired = {key: module.params[key] for key in SETTINGS if module.params[key] is not None}
    part = ThreadpoolPart(desired, module.params["server"])
    result = _pipeline.run(module, [part])
    module.exit_json(**result, server=part.server, threadpool=part.after)


if __name__ == "__main__":
    main()
