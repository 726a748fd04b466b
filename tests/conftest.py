"""Shared fixtures: sandboxed libvirt daemons, stopped by pid whatever happens."""

from __future__ import annotations

import sys

import pytest

from tests.harness.ansible import collections_path
from tests.harness.daemons import _RUNNING, Daemon
from tests.harness.fleet import Fleets

_DEAD_BEFORE = pytest.StashKey[set]()

# Unit tests import the collection as Ansible does: ansible_collections.virtops.libvirt_admin.
sys.path.insert(0, collections_path())


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "once: an end-to-end test (roles, fleets, report, load) that `make integration-versions` does not repeat "
        "for each libvirt version",
    )


def _dead_daemons() -> dict:
    """pid -> the sandboxed daemons that have exited but were not stopped."""
    dead = {}
    for pid, daemon in list(_RUNNING.items()):
        process = getattr(daemon, "process", None)
        if isinstance(daemon, Daemon) and process is not None and process.poll() is not None:
            dead[pid] = daemon
    return dead


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    item.stash[_DEAD_BEFORE] = set(_dead_daemons())
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report names every sandboxed daemon that died under it, with the end of its log:
    a task's "Cannot connect" is then read with the daemon's own last words beside it."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    before = item.stash.get(_DEAD_BEFORE, set())
    for pid, daemon in _dead_daemons().items():
        if pid not in before:
            tail = "\n".join(daemon.log.splitlines()[-20:])
            report.sections.append((f"{daemon.binary} {daemon.root} exited with {daemon.process.returncode}", tail))


@pytest.fixture
def daemon():
    """A fresh sandboxed libvirtd with its compiled-in defaults."""
    with Daemon() as running:
        yield running


@pytest.fixture
def make_daemon():
    """Start daemons with a config or drivers of the test's choosing."""
    started = []

    def _make(**kwargs) -> Daemon:
        started.append(Daemon(**kwargs).start())
        return started[-1]

    yield _make
    for running in started:
        running.stop()


@pytest.fixture
def make_fleet():
    """make_fleet(n, versions=None, ...) starts a fleet of SSH hosts on loopback (tests.harness.fleet),
    each with its own libvirtd; every fleet started is stopped by pid afterwards."""
    with Fleets() as make:
        yield make
