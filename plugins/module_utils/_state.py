# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""Comparing desired and current settings, and the diff Ansible shows."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import (
    ERR_INVALID_ARG,
    UINT_MAX,
    LibvirtAdminError,
)


def changes_between(current: dict, desired: dict) -> dict:
    """The desired settings whose value differs from the current one."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def diff(before: dict, after: dict, keys) -> dict:
    """Ansible's before/after diff over the given keys."""
    return {
        "before": {key: before.get(key) for key in keys},
        "after": {key: after.get(key) for key in keys},
    }


def described(key: str, merged: dict, desired: dict) -> str:
    """A merged setting for an error message, saying where its value came from."""
    source = "" if key in desired else ", the server's current value"
    return f"{key} ({merged[key]}{source})"


def check_uint_settings(desired: dict, settings, kind: str) -> None:
    """Every desired setting is one of `settings` and an unsigned 32-bit integer, as libvirt takes it."""
    for key, value in desired.items():
        if key not in settings:
            raise LibvirtAdminError(f"{key} is not a {kind}", ERR_INVALID_ARG)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT_MAX:
            raise LibvirtAdminError(
                f"{key} must be a whole number from 0 to {UINT_MAX}, got {value!r}", ERR_INVALID_ARG
            )


def read_back(read, *args):
    """read(*args) after a change was applied: a failure then says that the change itself went through."""
    try:
        return read(*args)
    except LibvirtAdminError as error:
        raise LibvirtAdminError(
            f"the change was applied at runtime, but reading it back failed: {error.message}", error.code
        ) from error
