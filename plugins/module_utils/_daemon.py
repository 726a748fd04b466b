# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The options of libvirt_admin_daemon as parts of the pipeline: a thread pool part and a client
limits part per server named, and a logging part, each the same part the single-purpose modules run."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logging
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_INVALID_ARG, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._limits import ClientLimitsPart
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._settings import (
    CLIENTS,
    SETTINGS,
    THREADPOOL,
    names,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._threadpool import ThreadpoolPart

SERVER_SETTINGS = tuple(SETTINGS)
PART_OF_KIND = {THREADPOOL: ThreadpoolPart, CLIENTS: ClientLimitsPart}


def _whole_number(where: str, value):
    if isinstance(value, bool):
        raise LibvirtAdminError(f"{where} must be a whole number, got {value!r}", ERR_INVALID_ARG)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise LibvirtAdminError(f"{where} must be a whole number, got {value!r}", ERR_INVALID_ARG)


def server_parts(servers: dict | None) -> list:
    """The threadpool and clients parts of the servers option ({name: {setting: value}}), or
    LibvirtAdminError naming the bad entry. Values may be numbers or strings of digits (templated)."""
    parts = []
    for name, settings in (servers or {}).items():
        if not isinstance(name, str) or not name:
            raise LibvirtAdminError(f"servers: a server name must be a non-empty string, got {name!r}", ERR_INVALID_ARG)
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise LibvirtAdminError(
                f"servers.{name} must be a dictionary of settings ({', '.join(SERVER_SETTINGS)}), got {settings!r}",
                ERR_INVALID_ARG,
            )
        unknown = sorted(str(key) for key in settings if key not in SERVER_SETTINGS)
        if unknown:
            raise LibvirtAdminError(
                f"servers.{name}: unknown setting {', '.join(unknown)}; a server takes {', '.join(SERVER_SETTINGS)}",
                ERR_INVALID_ARG,
            )
        given = {key: value for key, value in settings.items() if value is not None}
        if not given:
            raise LibvirtAdminError(
                f"servers.{name} sets nothing; give at least one of {', '.join(SERVER_SETTINGS)}, "
                "or leave the server out",
                ERR_INVALID_ARG,
            )
        values = {key: _whole_number(f"servers.{name}.{key}", value) for key, value in given.items()}
        for kind, part in PART_OF_KIND.items():
            desired = {key: value for key, value in values.items() if key in names(kind)}
            if desired:
                parts.append(part(desired, name, path=("servers", name)))
    return parts


def logging_part(logging: dict | None):
    """The logging part of the logging option ({outputs, filters}; None entries left as they are), or None."""
    logging = logging or {}
    desired = _logging.desired(logging.get("outputs"), logging.get("filters"))
    unsafe = bool(logging.get("unsafe_outputs"))
    return _logging.LoggingPart(desired, path=("logging",), unsafe=unsafe) if desired else None
