"""The modules under the mitogen strategy plugin (mitogen from PyPI), with the ansible-core
of the venv that runs this test: `make matrix` runs it in the venv of each ansible-core of
the matrix and in .venv.

The same playbook runs under ansible-core's own `linear` strategy too, as the control: its
first task reads the command line of the process running the tasks, which under mitogen is
a mitogen context ("python3(mitogen:...)") and otherwise the AnsiballZ wrapper.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.harness.ansible import REPO, run_playbook
from tests.packaging.helpers import client_limits, server_names, threadpool, virt_admin

PLAYBOOK = REPO / "tests" / "matrix" / "playbooks" / "every_module.yml"
FILTERS = ["1:qemu", "3:util"]


def mitogen_strategies() -> str:
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.origin:
        pytest.fail("mitogen is not installed in this venv (requirements-dev.txt, tests/matrix/ansible-core-*.txt)")
    return str(Path(spec.origin).parent / "plugins" / "strategy")


@pytest.mark.parametrize(
    ("strategy", "runner"),
    [("mitogen_linear", r"\(mitogen:"), ("linear", r"AnsiballZ_")],
)
def test_every_module_under_the_strategy(daemon, strategy, runner):
    max_workers = threadpool(daemon.uri, "libvirtd")["maxWorkers"] + 3
    max_clients = client_limits(daemon.uri, "libvirtd")["nclients_max"] + 11
    done = run_playbook(
        PLAYBOOK,
        extra_vars={
            "libvirt_admin_uri": daemon.uri,
            "libvirt_admin_max_workers": max_workers,
            "libvirt_admin_max_clients": max_clients,
            "libvirt_admin_filters": FILTERS,
            "libvirt_admin_servers": server_names(daemon.uri),
            "libvirt_admin_runner_pattern": runner,
        },
        env={"ANSIBLE_STRATEGY_PLUGINS": mitogen_strategies(), "ANSIBLE_STRATEGY": strategy},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed=0" in done.stdout
    # The daemon as virt-admin sees it.
    assert threadpool(daemon.uri, "libvirtd")["maxWorkers"] == max_workers
    assert client_limits(daemon.uri, "libvirtd")["nclients_max"] == max_clients
    assert virt_admin(daemon.uri, "daemon-log-filters").split(":", 1)[1].split() == ["1:*qemu*", "3:*util*"]
