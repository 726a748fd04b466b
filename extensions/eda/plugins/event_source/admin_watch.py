# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""virtops.libvirt_admin.admin_watch: an Event-Driven Ansible source watching libvirt daemons' servers.

ansible-rulebook loads this file with runpy.run_path, not as a package module: no relative imports.
The collection's code is reached through the collections folder this file sits in (or one on
ANSIBLE_COLLECTIONS_PATH), put on sys.path by main(); the logic lives in plugins/plugin_utils.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
---
short_description: Watch libvirt daemons' worker pools, clients and liveness, and send an event on every change
description:
  - Polls every server of the libvirt daemons it watches through libvirt's admin API, every
    O(interval) seconds, over one admin connection per daemon kept open from poll to poll, and
    puts an event on the queue each time a condition changes, never one per poll.
  - 'Per server: C(exhausted) and C(recovered), by the rule of
    M(virtops.libvirt_admin.libvirt_admin_server_info)''s C(exhausted) (every worker busy and no
    more will start: at C(max_workers), or jobs queued with no free worker); C(clients_near_limit)
    and C(clients_ok) (clients at or above O(clients_ratio) of C(max_clients)).'
  - 'Per daemon: C(daemon_down) and C(daemon_up). Per host, in fleet mode: C(host_unreachable) and
    C(host_reachable).'
  - A problem seen at the first poll is announced; a healthy state seen at the first poll is not.
  - Local mode (no O(inventory)) watches the daemons of the machine the source runs on, found by
    their admin sockets as M(virtops.libvirt_admin.libvirt_admin_server_info) with C(discover=true)
    finds them, or those of O(uris).
  - Fleet mode (O(inventory)) watches every host of an Ansible inventory that matches O(hosts),
    from the controller. The admin API is local only, so each host is reached over one long-lived
    SSH session (an OpenSSH ControlMaster, one connection and one login), with become when the host's
    C(ansible_become) says so; the host's own Python (C(ansible_python_interpreter)) relays each
    daemon's admin socket over a channel of that session, and the controller speaks libvirt's admin
    protocol over it (the collection's protocol backend). Nothing is installed on the hosts.
  - A host that cannot be reached, or whose session drops, gives C(host_unreachable); the source
    retries it with backoff and keeps watching the others. A daemon that does not answer gives
    C(daemon_down) and is retried likewise.
  - Every event is a dictionary under the key C(libvirt_admin) with C(type), C(host), C(daemon),
    C(uri) (as the host sees it), C(server), C(since) (when the condition was first seen, ISO 8601
    UTC), C(observed) (this poll's time), and the numbers - C(threadpool) and C(clients) as
    M(virtops.libvirt_admin.libvirt_admin_server_info) returns them; C(error) for C(daemon_down)
    and C(host_unreachable); C(ended) and C(duration) (seconds) for the end of a problem.
options:
  interval:
    description: Seconds between two polls of a daemon.
    type: float
    default: 1.0
  clients_ratio:
    description: A server's clients are near their limit from this share of its C(max_clients) on.
    type: float
    default: 0.9
  inventory:
    description:
      - Fleet mode. An Ansible inventory, as C(ansible-playbook -i) takes it (a file or folder, or a
        comma-separated host list), read on the controller with ansible-core.
      - Each host is reached with its C(ansible_host), C(ansible_port), C(ansible_user),
        C(ansible_ssh_private_key_file), C(ansible_ssh_common_args), C(ansible_ssh_extra_args),
        C(ansible_become) (with C(ansible_become_user), C(ansible_become_exe); the method must be
        C(sudo), without a password) and C(ansible_python_interpreter) (default C(/usr/bin/python3);
        no interpreter discovery). A host with C(ansible_connection=local) is watched as in local mode.
    type: str
  hosts:
    description: Fleet mode. The hosts of O(inventory) to watch, as an Ansible host pattern.
    type: str
    default: all
  private_key_file:
    description:
      - Fleet mode. The SSH private key for the hosts whose inventory sets no
        C(ansible_ssh_private_key_file) (for example a file an EDA controller credential injects).
    type: str
  uris:
    description:
      - Local mode. Admin URIs of the daemons to watch (for example
        C(libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock)), instead of every daemon whose
        admin socket is found.
    type: list
    elements: str
  daemons:
    description: Watch only the daemons of these names (C(libvirtd), C(virtqemud), C(virtlogd), ...).
    type: list
    elements: str
  host:
    description: Local mode. The host name the events carry (the inventory name of this machine).
    type: str
    default: localhost
  backend:
    description: Local mode. How to reach the daemons, as the modules' backends.
    type: str
    choices: [auto, library, protocol]
    default: auto
  timeout:
    description: Seconds an admin call or opening a relay may take before it is given up.
    type: float
    default: 5.0
  login_timeout:
    description: Fleet mode. Seconds an SSH connection, its login and the start of the host's Python may take.
    type: float
    default: 15.0
  logins:
    description:
      - Fleet mode. SSH logins under way at once, at most, so that a fleet starting (or coming back after
        an outage) is not logged into everywhere at the same instant.
    type: int
    default: 8
  reconnect_min:
    description: Seconds before the first retry of a host or daemon that failed; the wait doubles after each failure.
    type: float
    default: 1.0
  reconnect_max:
    description: The longest wait between two retries, in seconds.
    type: float
    default: 30.0
  discover_every:
    description: Seconds between two looks for daemons that started since (a daemon once seen stays watched).
    type: float
    default: 30.0
  repeat:
    description:
      - Announce a problem that still holds again every this many seconds (the event carries
        C(repeated), a count); V(0) announces each problem once.
    type: float
    default: 0
  ssh:
    description: The ssh client run on the controller in fleet mode.
    type: str
    default: ssh
notes:
  - The argument schema is C(extensions/eda/plugins/event_source/schemas/admin_watch.json); the
    source checks its arguments against it and fails at once, saying which is wrong.
  - Each daemon watched costs it one admin client (the watch's connection, kept open) and, per poll,
    two admin calls per server (worker pool, client limits), each of which the backend precedes with a
    lookup of the server, as libvirt's library does; its servers are listed once per connection.
  - Only the daemon's own user may use its admin socket. Run the source as root in local mode, and
    give fleet hosts C(ansible_user=root) or C(ansible_become=true).
"""

EXAMPLES = r"""
- name: Watch this machine's libvirt daemons
  hosts: localhost
  sources:
    - virtops.libvirt_admin.admin_watch:
        interval: 1
  rules:
    - name: Show each change
      condition: event.libvirt_admin is defined
      action:
        print_event:
          pretty: true

- name: Watch the compute hosts of an inventory
  hosts: all
  sources:
    - virtops.libvirt_admin.admin_watch:
        inventory: /etc/ansible/inventory/compute.yml
        hosts: compute
        daemons: [libvirtd]
  rules:
    - name: Raise an exhausted worker pool
      condition: event.libvirt_admin.type == "exhausted"
      action:
        run_playbook:
          name: virtops.libvirt_admin.remediate
"""

COLLECTION = ("ansible_collections", "virtops", "libvirt_admin")
SCHEMA = Path(__file__).resolve().parent / "schemas" / "admin_watch.json"


def collections_root(plugin_file: str = __file__) -> str:
    """The folder holding ansible_collections/virtops/libvirt_admin that this file belongs to: the one
    it was found in (.../ansible_collections/virtops/libvirt_admin/extensions/eda/plugins/event_source),
    the same after resolving links, or one on ANSIBLE_COLLECTIONS_PATH holding this collection."""
    for path in (Path(os.path.abspath(plugin_file)), Path(plugin_file).resolve()):
        if len(path.parents) < 8:
            continue
        collection = path.parents[4]
        if (collection.parents[1].name, collection.parent.name, collection.name) == COLLECTION:
            return str(collection.parents[2])
    for folder in os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.environ.get("ANSIBLE_COLLECTIONS_PATHS", "")).split(
        os.pathsep
    ):
        if folder and Path(folder, *COLLECTION).is_dir():
            return folder
    raise RuntimeError(
        f"{plugin_file} is not inside an installed collection (.../ansible_collections/virtops/libvirt_admin): "
        "install the collection, or put a folder holding it on ANSIBLE_COLLECTIONS_PATH"
    )


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """Watch the daemons until cancelled (see DOCUMENTATION)."""
    root = collections_root()
    if root not in sys.path:
        sys.path.insert(0, root)
    from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_loop

    await _watch_loop.watch(queue, args, str(SCHEMA), source="virtops.libvirt_admin.admin_watch")


if __name__ == "__main__":

    class PrintQueue:
        """Prints each event: `python admin_watch.py` watches this machine's daemons."""

        async def put(self, event: dict) -> None:
            print(event, flush=True)

    asyncio.run(main(PrintQueue(), {}))
