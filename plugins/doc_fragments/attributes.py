# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Attributes every module of the collection shares.
    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/virtops.libvirt_admin.libvirt_admin) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - virtops.libvirt_admin.libvirt_admin
  platform:
    description: Target operating system and family.
    support: full
    platforms: posix
"""

    # For modules that change the daemon.
    STATE = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in C(check_mode) and return changed status prediction without modifying the daemon.
    support: full
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation
        indicates no change.
    support: full
"""

    # For modules that only read.
    INFO = r"""
options: {}
attributes:
  check_mode:
    description: This module never changes anything, so it runs normally in check mode.
    support: full
    details: This action does not modify state.
  diff_mode:
    description: This module never changes anything, so there is no diff to show.
    support: N/A
    details: This action does not modify state.
  idempotent:
    description: This module only reads state.
    support: full
"""
