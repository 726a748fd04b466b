#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_daemon_shutdown
short_description: Shut a running libvirt daemon down through its admin API
version_added: 0.2.0
description:
  - Asks a running libvirt daemon to shut down through libvirt's admin API, like
    C(virt-admin daemon-shutdown), then waits until it has gone, that is until its admin socket no
    longer answers (a connection attempt fails), for up to O(wait) seconds.
  - With O(preserve=true) the daemon first preserves the state of what it runs (its running guests)
    as it does when the host shuts down, following its drivers' own shutdown settings; without it the
    daemon exits as it does on C(SIGTERM), and running guests keep running.
  - A daemon that is not running (its admin socket does not exist, or nothing listens on it) is left
    alone and reported with RV(already_stopped=true) and RV(connection_error), and the task does not
    fail and reports no change. A misspelt O(daemon) or O(uri) reaches no daemon either, so
    RV(connection_error) says which socket was tried.
  - Any other failure to connect (for example a socket only root may use) fails the task.
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.STATE
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module connects and checks the daemon's version, asks for nothing, and reports
        a change when the daemon is running (no change when it is not).
  diff_mode:
    support: full
    details:
      - The diff shows whether the daemon runs, before and after (C(running)).
  idempotent:
    support: partial
    details:
      - The first run stops the daemon and reports a change; the next finds it not running and reports
        none.
      - Not so under systemd socket activation, where systemd holds the daemon's sockets and starts the
        daemon again at the next connection to one of them, this module's own connections included. To
        stop a socket-activated daemon for good, stop its socket units too (for example
        C(libvirtd.socket), C(libvirtd-ro.socket) and C(libvirtd-admin.socket)) with
        M(ansible.builtin.systemd_service).
options:
  preserve:
    description:
      - Preserve the state of the daemon's running guests before it exits (libvirt's
        C(VIR_DAEMON_SHUTDOWN_PRESERVE)), as the daemon does when the host shuts down, following its
        drivers' shutdown settings. This can take a while with many guests; raise O(wait) to match.
    type: bool
    default: false
  wait:
    description:
      - Seconds to wait, after asking, until the daemon's admin socket no longer answers. The task fails
        when it still answers then, saying so (the daemon may still be preserving its guests' state).
      - Above V(0).
    type: float
    default: 30
notes:
  - Needs libvirt 11.2.0 or newer on the daemon; the task fails naming the version on an older one,
    before asking anything. Through the library (O(backend=library), or V(auto) where it loads) the
    managed host's C(libvirt-admin.so.0) must be of 11.2.0 or newer too, or the task fails saying so;
    O(backend=protocol) needs no library.
  - Nothing starts the daemon again afterwards unless a service manager does (systemd socket activation,
    or a restart policy). Start it with M(ansible.builtin.service) or M(ansible.builtin.systemd_service).
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_daemon_timeout
  - name: libvirt admin API
    description: The virAdmConnectDaemonShutdown call this module uses.
    link: https://libvirt.org/html/libvirt-libvirt-admin.html#virAdmConnectDaemonShutdown
"""

EXAMPLES = r"""
- name: Shut virtqemud down, saving the state of its running guests first
  virtops.libvirt_admin.libvirt_admin_daemon_shutdown:
    daemon: virtqemud
    preserve: true
    wait: 300
  become: true
  register: shutdown

- name: Say how long it took
  ansible.builtin.debug:
    msg: "virtqemud stopped after {{ shutdown.stopped_after }} s"
  when: shutdown is changed

- name: Shut down a libvirtd that no service manager starts again
  virtops.libvirt_admin.libvirt_admin_daemon_shutdown:
    uri: libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
stopped:
  description:
    - Whether the daemon is not running at the end of the task, that is its admin socket no longer answers.
    - V(false) in check mode when the daemon runs.
  returned: success
  type: bool
  sample: true
already_stopped:
  description: Whether the daemon was not running when the task started, so nothing was done.
  returned: success
  type: bool
  sample: false
stopped_after:
  description: Seconds from the request until the daemon's admin socket no longer answered.
  returned: when the task shut the daemon down
  type: float
  sample: 0.21
connection_error:
  description: libvirt's words on the connection attempt that found no daemon, naming the socket tried.
  returned: when RV(already_stopped=true)
  type: str
  sample: "Failed to connect socket to '/run/libvirt/virtqemud-admin-sock': No such file or directory"
"""

import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._lifecycle import (
    DAEMON_SHUTDOWN_SINCE,
    not_running,
    wait_until_gone,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule

ACTION = "shut down"


def _diff(module: AdminModule, running: bool) -> dict:
    return {"diff": {"before": {"running": running}, "after": {"running": False}}} if module._diff else {}


def _still_answering(wait: float, preserve: bool) -> LibvirtAdminError:
    why = "it may still be preserving its guests' state: raise wait" if preserve else "raise wait"
    return LibvirtAdminError(
        f"the daemon was asked to shut down, and its admin socket still answers after {wait:g} s ({why}); "
        "under systemd socket activation a connection starts it again: stop its socket units instead"
    )


def main() -> None:
    module = AdminModule(
        argument_spec={
            "preserve": {"type": "bool", "default": False},
            "wait": {"type": "float", "default": 30},
        },
        supports_check_mode=True,
    )
    preserve, wait = module.params["preserve"], module.params["wait"]
    if not wait > 0:
        module.fail_json(msg=f"wait must be a number of seconds above 0, got {wait:g}")

    try:
        conn = module.open()
    except LibvirtAdminError as error:
        if not not_running(error):
            module.fail_admin("connect to", error)
        module.exit_json(
            changed=False, stopped=True, already_stopped=True, connection_error=error.message, **_diff(module, False)
        )
    try:
        module.require_daemon_version(
            conn,
            DAEMON_SHUTDOWN_SINCE,
            "Shutting the daemon down through the admin API",
            "upgrade libvirt there, or stop the daemon with its service manager (for example systemctl stop)",
        )
        if module.check_mode:
            module.exit_json(changed=True, stopped=False, already_stopped=False, **_diff(module, True))
        asked = time.monotonic()
        with module.failing_as(ACTION):
            conn.daemon_shutdown(preserve)
    finally:
        conn.close()

    gone = wait_until_gone(lambda timeout: module.open(timeout=timeout), wait - (time.monotonic() - asked))
    if gone is None:
        module.fail_admin(ACTION, _still_answering(wait, preserve), changed=True, stopped=False, already_stopped=False)
    module.exit_json(
        changed=True,
        stopped=True,
        already_stopped=False,
        stopped_after=round(time.monotonic() - asked, 3),
        **_diff(module, True),
    )


if __name__ == "__main__":
    main()
