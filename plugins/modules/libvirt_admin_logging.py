#!/usr/bin/python
# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_admin_logging
short_description: Set the log outputs and filters of a running libvirt daemon
version_added: 0.1.0
description:
  - Sets where a running libvirt daemon logs to (outputs) and which messages it logs (filters)
    through libvirt's admin API, without a restart, like C(virt-admin daemon-log-outputs) and
    C(virt-admin daemon-log-filters). Turn on debug logging for one part of libvirt while a problem
    is happening, then put the settings back.
  - Only the lists given are managed. Every item is validated with libvirt's rules before anything is
    sent; the message names the bad item and why.
  - Outputs and filters change together or not at all. If the second change fails, the first is put
    back and the task fails saying so.
  - The comparison is idempotent despite the daemon rewriting what it stores (a filter V(1:qemu) reads
    back as V(1:*qemu*), file paths are normalised); RV(logging) returns the settings as you write them.
  - Runtime settings last until the daemon restarts; O(persist=true) writes them to the daemon's config
    file too. There is no runtime API for C(log_level).
author:
  - Virtops Team (@virtops)
extends_documentation_fragment:
  - virtops.libvirt_admin.connection
  - virtops.libvirt_admin.persist
  - virtops.libvirt_admin.attributes
  - virtops.libvirt_admin.attributes.state
options:
  outputs:
    description:
      - The daemon's log outputs, each C(LEVEL:stderr), C(LEVEL:journald), C(LEVEL:syslog:IDENT) or
        C(LEVEL:file:PATH) with an absolute PATH. LEVEL is V(1) (debug), V(2) (info), V(3) (warning)
        or V(4) (error), the lowest priority of messages the output gets.
      - Order does not matter (every output gets every message at or above its level). One output per
        destination.
      - An empty list is an error, because the daemon would replace it with its own default output;
        list the outputs you want instead (the default is usually V(3:file:/var/log/libvirt/libvirtd.log)
        or V(3:journald)).
      - The file of a C(file) output is opened by the daemon, on the daemon's host. Before anything is
        changed (in check mode too), each C(file) output is checked on the managed host, so that a slip
        cannot make the daemon append its log to a file that is no log; see O(unsafe_outputs).
    type: list
    elements: raw
  filters:
    description:
      - The daemon's log filters, each C(LEVEL:MATCH), which sets the level of messages from the parts
        of libvirt whose name contains MATCH (for example V(1:qemu), V(1:rpc), V(3:util.object), V(4:*)).
      - Order matters, the first filter that matches a message decides.
      - An empty list removes every filter.
    type: list
    elements: raw
  unsafe_outputs:
    description:
      - Skip the checks of C(file) outputs. Without it, a C(file) output is refused when its path (or
        the file a symlink there leads to) is under C(/etc), C(/usr), C(/boot), C(/bin), C(/sbin),
        C(/lib*), C(/proc), C(/sys) or C(/dev); when the file exists and is not a regular file; and
        when it exists and is no log, that is, it is none of the daemon's current outputs, its name
        does not end in C(.log), and it is not under C(/var/log). A file that does not exist yet is
        created by the daemon.
      - The checks look at the managed host's file system. For a daemon in a container with file
        systems of its own they see the host's files, not the container's.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - At least one of O(outputs) and O(filters) is required.
  - Needs libvirt 3.0.0 or newer on the daemon.
seealso:
  - module: virtops.libvirt_admin.libvirt_admin_server_info
  - name: libvirt logging
    description: The log output and filter syntax.
    link: https://libvirt.org/logging.html
"""

EXAMPLES = r"""
- name: Debug the QEMU driver into a file of its own, keep warnings on the journal
  virtops.libvirt_admin.libvirt_admin_logging:
    daemon: virtqemud
    outputs:
      - 1:file:/var/log/libvirt/qemu-debug.log
      - 3:journald
    filters:
      - 1:qemu
      - 1:libvirt
      - 4:object
      - 4:json
      - 4:event
      - 3:util
  become: true

- name: Back to warnings only
  virtops.libvirt_admin.libvirt_admin_logging:
    daemon: virtqemud
    outputs:
      - 3:journald
    filters: []
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
logging:
  description:
    - The daemon's log settings after the change, read back from the daemon and written as a user
      writes them (in check mode, the settings the change would lead to).
  returned: success
  type: dict
  contains:
    outputs:
      description: The log outputs.
      type: list
      elements: str
      returned: success
      sample: ["1:file:/var/log/libvirt/debug.log", "3:stderr"]
    filters:
      description: The log filters, in order.
      type: list
      elements: str
      returned: success
      sample: ["1:qemu", "3:util"]
"""

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logging, _logstrings, _pipeline
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import AdminModule
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import PERSIST_ARGSPEC


def main() -> None:
    module = AdminModule(
        argument_spec={**_logging.LOGGING_ARGSPEC, **PERSIST_ARGSPEC},
        required_one_of=[("outputs", "filters")],
        supports_check_mode=True,
    )
    with module.failing_as("set the logging of"):
        desired = _logging.desired(module.params["outputs"], module.params["filters"])
    part = _logging.LoggingPart(desired, unsafe=module.params["unsafe_outputs"])
    result = _pipeline.run(module, [part])
    module.exit_json(**result, logging=_logstrings.rendered(part.after))


if __name__ == "__main__":
    main()
