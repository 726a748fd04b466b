"""The modules with each managed-host Python the collection claims (3.8 and newer, within what the
ansible-core running the test supports), as found on this machine: /usr/bin/python3 and pyenv's.

A Python that is not on the machine is skipped, saying so; one the running ansible-core does
not support on managed hosts is skipped too (ansible-core 2.20 and newer need 3.9).
"""

from __future__ import annotations

import glob
import os

import pytest
from ansible.module_utils import basic

from tests.harness.ansible import run_module
from tests.packaging.helpers import threadpool

CLAIMED = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
PYENV_ROOT = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))


def interpreter(version: str) -> str | None:
    pyenv = sorted(glob.glob(f"{PYENV_ROOT}/versions/{version}.*/bin/python{version}"))
    candidates = [f"/usr/bin/python{version}", *pyenv]
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


@pytest.mark.parametrize("version", CLAIMED)
def test_modules_run_with_the_managed_host_python(daemon, version):
    if tuple(int(part) for part in version.split(".")) < basic._PY_MIN:
        pytest.skip(f"this ansible-core needs Python {'.'.join(map(str, basic._PY_MIN))} or newer on managed hosts")
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    env = {"ANSIBLE_PYTHON_INTERPRETER": python}
    info = run_module("libvirt_admin_server_info", {"uri": daemon.uri}, env=env)
    assert not info.failed, info.msg or info.stderr
    assert "libvirtd" in [server["name"] for server in info["servers"]]
    wanted = threadpool(daemon.uri, "libvirtd")["maxWorkers"] + 1
    changed = run_module("libvirt_admin_threadpool", {"uri": daemon.uri, "max_workers": wanted}, env=env)
    assert not changed.failed, changed.msg or changed.stderr
    assert changed.changed
    assert changed["threadpool"]["max_workers"] == wanted
    assert threadpool(daemon.uri, "libvirtd")["maxWorkers"] == wanted
