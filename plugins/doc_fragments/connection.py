# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module of the collection.
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - Admin URI of the daemon to manage, for example V(libvirtd:///system), V(virtqemud:///system),
        V(libvirtd:///session) or V(libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock).
      - When neither O(uri) nor O(daemon) is given, libvirt chooses as C(virt-admin) does, from
        the E(LIBVIRT_ADMIN_DEFAULT_URI) environment variable, then C(uri_default) in
        C(libvirt-admin.conf), then V(libvirtd:///system) for root.
      - The admin API is local only; the host part of the URI is ignored, so the task runs on the
        managed host that runs the daemon.
    type: str
  daemon:
    description:
      - Shorthand for the system URI of a daemon, V(<daemon>:///system), for example V(libvirtd),
        V(virtqemud), V(virtproxyd), V(virtnetworkd), V(virtlogd) or V(virtlockd).
      - Mutually exclusive with O(uri).
    type: str
notes:
  - Only the daemon's own user may use its admin socket. System daemons run as root, so tasks need
    privilege escalation (C(become)) unless they already run as root.
requirements:
  - On the managed host, the libvirt admin library C(libvirt-admin.so.0) (package C(libvirt0) on
    Debian and Ubuntu, C(libvirt-libs) on Fedora and RHEL), which every host running a libvirt daemon
    already has. No Python library is needed.
"""

    # The server option, for modules that act on one server of the daemon.
    SERVER = r"""
options:
  server:
    description:
      - Name of the daemon's server to act on, as listed by C(virt-admin srv-list).
      - Defaults to the daemon's own server, the one that is not V(admin) (for example V(libvirtd)
        for libvirtd, V(virtqemud) for virtqemud).
      - The task fails, listing the servers there are, when the daemon has no server of this name.
    type: str
"""
