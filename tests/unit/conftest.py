"""Fixtures of the unit tests: a fake libvirtd 9.0 and a connection to it."""

from __future__ import annotations

import pytest

from tests.unit.fake_admin import FakeDaemon


@pytest.fixture
def fake() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def conn(fake):
    with fake.connect() as connection:
        yield connection
