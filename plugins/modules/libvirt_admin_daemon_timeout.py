#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_daemon_timeout
short_description: Set how long a running libvirt daemon stays up when idle
version_added: 0.2.0
description:
  - Sets the idle timeout of a running libvirt daemon through libvirt's admin API, like
    C(virt-admin daemon-timeout); the daemon exits once it has had no client and nothing else keeping
    it (such as running guests) for that many seconds. V(0) makes it never exit when idle.
  - This is the runtime value of the daemon's C(--timeout) command-line option. The usual case is a
    daemon started by systemd socket activation with C(--timeout 120) (the default of libvirt's own
    units, for example C(VIRTQEMUD_ARGS="--timeout 120")); systemd starts it again at the next
    connection to one of its sockets. A daemon that nothing starts again stays stopped once it has
    exited.
  - The countdown starts when the last client disconnects, this task's own connection included.
  - The value lasts until the daemon exits or restarts; the daemon then starts with its C(--timeout)
    option again. It is a command-line option, not a key of the daemon's config file, so this module has no
    C(persist) option; change the option where the daemon is started (the systemd unit's
    environment file, for example C(/etc/sysconfig/virtqemud) or C(/etc/default/libvirtd)).
  - libvirt has no call that reads the timeout back, so the module cannot tell whether the daemon
    already has the value given.
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
      - In check mode the module connects and checks the daemon's version, sets nothing, and reports a
        change, because a real run always sets the timeout.
  diff_mode:
    support: none
    details:
      - libvirt cannot read the timeout back, so there is no before to compare.
  idempotent:
    support: none
    details:
      - The timeout cannot be read back, so every run outside check mode sets it and reports a change,
        whether or not the daemon had that value already. Setting the same value again does no harm
        (the countdown of an idle daemon starts over).
options:
  seconds:
    description:
      - Seconds the daemon stays up with no client before it exits; V(0) means it never exits when idle.
      - A whole number from V(0) to V(4294967295).
      - Named so because O(timeout) already is the time an admin call may take.
    type: int
    required: true
notes:
  - Needs libvirt 8.6.0 or newer on the daemon; the task fails naming the version on an older one.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_daemon_shutdown
  - name: libvirt admin API
    description: The virAdmConnectSetDaemonTimeout call this module uses.
    link: https://libvirt.org/html/libvirt-libvirt-admin.html#virAdmConnectSetDaemonTimeout
  - name: libvirt daemons
    description: How systemd socket activation starts libvirt's daemons, and their --timeout.
    link: https://libvirt.org/daemons.html
"""

EXAMPLES = r"""
- name: Keep virtqemud running while a maintenance window is open
  virtops.libvirt_admin.libvirt_admin_daemon_timeout:
    daemon: virtqemud
    seconds: 0
  become: true

- name: Let libvirtd exit after ten idle minutes instead of its usual two
  virtops.libvirt_admin.libvirt_admin_daemon_timeout:
    seconds: 600
  become: true
"""

RETURN = r"""
backend:
  description: The backend that reached the daemon, V(library) or V(protocol) (see O(backend)).
  returned: when a connection was opened
  type: str
  sample: library
seconds:
  description: The idle timeout given, in seconds (V(0) never exits when idle).
  returned: success
  type: int
  sample: 600
applied:
  description: Whether the daemon was told the timeout; V(false) in check mode.
  returned: success
  type: bool
  sample: true
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._lifecycle import (
    DAEMON_TIMEOUT_SINCE,
    check_seconds,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule


def main() -> None:
    module = AdminModule(argument_spec={"seconds": {"type": "int", "required": True}}, supports_check_mode=True)
    try:
        seconds = check_seconds("seconds", module.params["seconds"])
    except LibvirtAdminError as error:
        module.fail_json(msg=error.message)

    with module.connection() as conn:
        module.require_daemon_version(
            conn,
            DAEMON_TIMEOUT_SINCE,
            "Setting the daemon's idle timeout",
            "upgrade libvirt there, or change the daemon's --timeout option and restart it",
        )
        if not module.check_mode:
            with module.failing_as("set the idle timeout of"):
                conn.set_daemon_timeout(seconds)

    module.exit_json(changed=True, seconds=seconds, applied=not module.check_mode)


if __name__ == "__main__":
    main()
