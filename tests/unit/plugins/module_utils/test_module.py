"""_module._hint: what the user is told to do about a libvirt error."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._module import _hint

BECOME = "run the task with become: true"
RUNNING = "is the daemon running?"
URI = "give an admin URI such as libvirtd:///system"
SERVER = "set server to one of the daemon's servers"


@pytest.mark.parametrize(
    ("message", "code", "hint"),
    [
        ("Failed to connect socket to '/run/libvirt/libvirt-admin-sock': Permission denied", 38, BECOME),
        ("access denied: polkit", 88, BECOME),
        ("authentication failed: no agent", 45, BECOME),
        ("Failed to connect socket to '/x': No such file or directory", 38, RUNNING),
        ("Failed to connect socket to '/x': Connection refused", 38, RUNNING),
        ("unsupported configuration: Unsupported URI scheme 'bogus'", 67, URI),
        ("Server not found: No server named 'x'", 95, SERVER),
        ("Failed to create thread: Resource temporarily unavailable", 38, None),
        ("Failed to connect socket to '/x': No such file or directory", 39, "is the daemon running?"),
        ("cannot load libvirt's admin library", None, None),
    ],
)
def test_hint(message, code, hint):
    text = _hint(LibvirtAdminError(message, code))
    if hint is None:
        assert text == ""
    else:
        assert hint in text
