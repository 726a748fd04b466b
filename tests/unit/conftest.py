"""Fixtures of the unit tests: a fake libvirtd 9.0 and a connection to it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.unit.fake_admin import FakeDaemon

# The properties are about correctness, not speed: on a loaded 2-core machine generating examples may be
# slow, which must not fail a test.
settings.register_profile("virtops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("virtops")


@pytest.fixture
def fake(monkeypatch) -> FakeDaemon:
    daemon = FakeDaemon()
    daemon.watch_client_passes(monkeypatch)
    return daemon


@pytest.fixture
def conn(fake):
    with fake.connect() as connection:
        yield connection
