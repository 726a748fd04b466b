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
      - V(virtproxyd) serves the admin socket of the libvirtd it stands in for,
        C(/run/libvirt/libvirt-admin-sock), where libvirt would look for C(virtproxyd-admin-sock), so
        V(virtproxyd) stands for V(virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock).
      - Mutually exclusive with O(uri).
    type: str
  backend:
    description:
      - How the task reaches the daemon's admin socket.
      - V(library) loads libvirt's admin library C(libvirt-admin.so.0) with C(ctypes), as
        C(virt-admin) does.
      - V(protocol) speaks libvirt's admin RPC protocol to the socket directly, in pure Python, and
        needs no libvirt library on the host. It is meant for hosts where the daemons run in containers
        (kolla-ansible's C(nova_libvirt), TripleO's per-daemon containers) and share their sockets
        under C(/run/libvirt) with the host.
      - V(auto) uses the library where it loads and the protocol otherwise.
      - The result's RV(backend) says which one ran.
      - When not given, the E(LIBVIRT_ADMIN_BACKEND) environment variable of the module's process
        on the managed host is used, if set.
    type: str
    choices: [auto, library, protocol]
    default: auto
    version_added: 0.2.0
  timeout:
    description:
      - Seconds that opening the admin connection, and each admin call after it, may take before the
        task gives up and fails naming what did not answer; also how long a task waits for another
        task's edit of the same config file (C(persist=true)) to finish.
      - A daemon that accepts connections but never answers (for example one whose admin server has
        all of its clients or workers taken) then fails the task instead of hanging it.
    type: float
    default: 30
    version_added: 0.2.0
notes:
  - Only the daemon's own user may use its admin socket. System daemons run as root, so tasks need
    privilege escalation (C(become)) unless they already run as root.
requirements:
  - On the managed host, Python 3.8 or newer. With O(backend=library), libvirt's admin library
    C(libvirt-admin.so.0) too (package C(libvirt0) on Debian and Ubuntu, C(libvirt-libs) on Fedora and
    RHEL), which a host that runs a libvirt daemon outside containers has. No Python library is needed.
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
