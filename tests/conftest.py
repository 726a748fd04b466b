"""Shared fixtures: sandboxed libvirt daemons, stopped by pid whatever happens."""

from __future__ import annotations

import sys

import pytest

from tests.harness.ansible import collections_path
from tests.harness.daemons import Daemon
from tests.harness.fleet import Fleets

# Unit tests import the collection as Ansible does: ansible_collections.virtops.libvirt_admin.
sys.path.insert(0, collections_path())


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "once: an end-to-end test (roles, fleets, report, load) that `make integration-versions` does not repeat "
        "for each libvirt version",
    )


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
