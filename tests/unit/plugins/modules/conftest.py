"""Run a module's main() in-process against the fake daemon."""

from __future__ import annotations

import json
from contextlib import contextmanager
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _admin
from tests.unit.fake_admin import FakeDaemon

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19

    @contextmanager
    def patch_module_args(args: dict):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            if hasattr(basic, "_ANSIBLE_PROFILE"):
                with mock.patch.object(basic, "_ANSIBLE_PROFILE", "legacy"):
                    yield
            else:
                yield


@pytest.fixture
def fake(monkeypatch) -> FakeDaemon:
    """A fake libvirtd 9.0 that every module connection reaches."""
    daemon = FakeDaemon()
    daemon.watch_client_passes(monkeypatch)
    monkeypatch.setattr(_admin, "open_connection", daemon.connect)
    return daemon


@pytest.fixture
def run(fake, capsys):
    """run(main, args, check=False, diff=False) -> the module's result; checks every connection was closed."""

    def _run(main, args: dict, check: bool = False, diff: bool = False) -> dict:
        internal = {"_ansible_check_mode": check, "_ansible_diff": diff}
        with patch_module_args({**args, **internal}), pytest.raises(SystemExit) as exited:
            main()
        result = json.loads(capsys.readouterr().out)
        assert exited.value.code == (1 if result.get("failed") else 0)
        assert all(conn.closed for conn in fake.connections), "a connection was left open"
        return result

    return _run
