"""The playbooks shipped in playbooks/, run by their FQCN against a real daemon."""

from __future__ import annotations

import re

from tests.harness import witness
from tests.harness.ansible import run_playbook

THREADPOOL_VARS = {
    "libvirt_admin_hosts": "localhost",
    "libvirt_admin_become": False,
    "libvirt_admin_min_workers": 8,
    "libvirt_admin_max_workers": 40,
}


def recap(output: str) -> dict:
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def test_threadpool_playbook_converges(daemon):
    env = {"LIBVIRT_ADMIN_DEFAULT_URI": daemon.uri}
    check = run_playbook("virtops.libvirt_admin.threadpool", THREADPOOL_VARS, ["--check", "--diff"], env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert recap(check.stdout)["changed"] == 1
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)

    first = run_playbook("virtops.libvirt_admin.threadpool", THREADPOOL_VARS, ["--diff"], env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first.stdout)["changed"] == 1
    assert '-    "max_workers": 20,' in first.stdout and '+    "max_workers": 40,' in first.stdout
    assert witness.settings(daemon.uri, "libvirtd") == (8, 40, 5)

    second = run_playbook("virtops.libvirt_admin.threadpool", THREADPOOL_VARS, ["--diff"], env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout)["changed"] == 0
    assert "libvirtd: workers 0 busy / 8 (min 8, max 40, prio 5)" in second.stdout


def test_threadpool_playbook_by_uri_variable(daemon):
    extra = {**THREADPOOL_VARS, "libvirt_admin_uri": daemon.uri, "libvirt_admin_server": "admin"}
    admin = witness.settings(daemon.uri, "admin")
    extra["libvirt_admin_min_workers"] = admin[0]
    completed = run_playbook("virtops.libvirt_admin.threadpool", extra)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert witness.settings(daemon.uri, "admin") == (admin[0], 40, admin[2])
    assert witness.settings(daemon.uri, "libvirtd") == (5, 20, 5)
