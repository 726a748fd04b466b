# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # persist, config_file, backup, create: runtime settings written to the daemon's config file too.
    DOCUMENTATION = r"""
options:
  persist:
    description:
      - Also write the managed settings into the daemon's config file, so that they hold after the
        daemon restarts (runtime settings are lost then), as M(ansible.posix.sysctl) does with its file.
      - The edit keeps every other line, comment and key as it was; a commented-out example of a key
        becomes the setting where it stands; a missing key is added at the end. The file is written
        atomically (temporary file and rename), keeping its mode and owner.
      - The file part is idempotent on its own; a file that is right already is not rewritten even when
        the runtime differs, and the reverse. C(changed) and the diff cover both parts.
      - Keys by server, for libvirtd and the modular daemons (virtqemud, virtproxyd, ...);
        the daemon's own server C(min_workers), C(max_workers), C(prio_workers), C(max_clients),
        C(max_anonymous_clients); the admin server C(admin_min_workers), C(admin_max_workers),
        C(admin_max_clients); the daemon C(log_outputs), C(log_filters). virtlogd and virtlockd have
        C(max_clients) and C(admin_max_clients) only. A setting without a key fails the task before
        anything changes.
      - Everything is checked before anything changes; if the runtime change then fails, the file is
        not written, and the message says so.
      - C(admin_max_clients) and C(admin_max_workers) are never written as V(0), since the restarted
        daemon would let no admin client in, or have no worker to serve one, and neither C(virt-admin)
        nor this collection could reach it again.
      - Tasks that edit config files of one directory at once take turns (an exclusive lock on the
        directory, waited for at most O(timeout) seconds); each edits the file as the one before it
        left it, so that edits of different keys all land.
      - Only a regular file of at most 10 MiB (what libvirt itself reads) is read; a FIFO, a device or
        a directory given as O(config_file) fails the task at once.
    type: bool
    default: false
  config_file:
    description:
      - The daemon's config file, for O(persist=true).
      - Default is C(/etc/libvirt/<daemon>.conf), the daemon named by the URI's scheme
        (C(libvirtd) when no URI is given).
    type: path
  backup:
    description:
      - With O(persist=true), keep a copy of the config file, with a timestamp in its name, before
        changing it. The copy's path is returned in RV(backup_file).
    type: bool
    default: false
  create:
    description:
      - With O(persist=true), create the config file if it does not exist (mode 0644). Without it, a
        missing file fails the task before anything changes.
    type: bool
    default: false
"""
