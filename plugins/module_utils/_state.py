# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Comparing desired and current settings, and the diff Ansible shows."""

from __future__ import annotations


def changes_between(current: dict, desired: dict) -> dict:
    """The desired settings whose value differs from the current one."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def diff(before: dict, after: dict, keys) -> dict:
    """Ansible's before/after diff over the given keys."""
    return {
        "before": {key: before.get(key) for key in keys},
        "after": {key: after.get(key) for key in keys},
    }
