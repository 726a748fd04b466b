"""persist when the daemon goes away between the runtime change and the file
write: the task fails and says which part was applied."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.modules import (
    libvirt_admin_clients,
    libvirt_admin_logging,
    libvirt_admin_threadpool,
)

GONE = LibvirtAdminError("Cannot recv data: Connection reset by peer", 38)
CASES = [
    (libvirt_admin_threadpool.main, {"max_workers": 30}, "get_threadpool"),
    (libvirt_admin_clients.main, {"max_clients": 300}, "get_client_limits"),
    (libvirt_admin_logging.main, {"filters": ["1:qemu"]}, "get_logging_outputs"),
]


@pytest.mark.parametrize("main, args, reader", CASES, ids=["threadpool", "clients", "logging"])
def test_daemon_gone_after_the_runtime_change(fake, run, tmp_path, main, args, reader):
    config_file = tmp_path / "libvirtd.conf"
    config_file.write_text("# settings\n")
    fake.fail_call(reader, GONE, nth=2)  # the read after the change
    result = run(main, {**args, "persist": True, "config_file": str(config_file)})
    assert result["failed"] is True
    assert "the change was applied at runtime, but reading it back failed: Cannot recv data" in result["msg"]
    assert "(the config file was not changed)" in result["msg"]
    assert config_file.read_text() == "# settings\n"
    assert len(fake.setter_calls) == 1


@pytest.mark.parametrize("main, args, reader", CASES, ids=["threadpool", "clients", "logging"])
def test_both_parts_written_when_all_goes_well(fake, run, tmp_path, main, args, reader):
    del reader
    config_file = tmp_path / "libvirtd.conf"
    config_file.write_text("# settings\n")
    result = run(main, {**args, "persist": True, "config_file": str(config_file)})
    assert result["changed"] is True and "failed" not in result
    assert config_file.read_text() != "# settings\n"
    assert config_file.read_text().startswith("# settings\n")
    assert result["config_file"] == str(config_file)
