"""libvirt_admin_tls's main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_RPC,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_tls import main
from tests.unit.fake_admin import PERMISSION_DENIED, VIRTLOGD_9_0

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"
NO_TLS = "internal error: no tls service found, unable to update tls files"
LISTEN_WITH_TLS = "the daemon must listen for TLS clients: set listen_tls = 1 in its configuration file"


def test_reloads_the_daemons_own_server(fake, run):
    result = run(main, {})
    result.pop("invocation", None)  # not returned here by ansible-core 2.21
    assert result == {"changed": True, "server": "libvirtd", "reloaded": True, "backend": "fake"}
    assert fake.calls_of("update_tls_files") == [("update_tls_files", "libvirtd")]
    assert fake.tls_reloads == {"libvirtd": 1}
    assert len(fake.connections) == 1  # and closed, as run() checks after every run


def test_every_run_reloads_and_reports_a_change(fake, run):
    first, again = run(main, {}), run(main, {})
    assert (first["changed"], again["changed"]) == (True, True)
    assert fake.tls_reloads == {"libvirtd": 2}


def test_check_mode_predicts_a_change_and_reloads_nothing(fake, run):
    result = run(main, {}, check=True)
    assert (result["changed"], result["server"], result["reloaded"]) == (True, "libvirtd", False)
    assert fake.calls_of("update_tls_files") == []
    assert fake.tls_reloads == {}


@pytest.mark.parametrize("check", [False, True])
def test_no_diff_even_in_diff_mode(run, check):
    assert "diff" not in run(main, {}, check=check, diff=True)


def test_other_daemon_and_server(fake, run):
    fake.servers = copy.deepcopy(VIRTLOGD_9_0)
    fake.servers["virtproxyd"] = fake.servers.pop("virtlogd")
    result = run(main, {"daemon": "virtproxyd", "server": "virtproxyd"})
    assert (result["changed"], result["server"]) == (True, "virtproxyd")
    assert fake.connections[0].opened_uri == "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"
    assert fake.tls_reloads == {"virtproxyd": 1}


@pytest.mark.parametrize("check", [False, True])
def test_server_without_tls_listener(fake, run, check):
    fake.without_tls.add("libvirtd")
    result = run(main, {"uri": "libvirtd:///system"}, check=check)
    if check:  # only the daemon can tell, when it tries
        assert result["changed"] is True and result["reloaded"] is False
        return
    assert result["msg"] == (
        f"Cannot reload the TLS files of server 'libvirtd' of the daemon at libvirtd:///system: {NO_TLS}; "
        "server 'libvirtd' has no TLS listener; the daemon must listen for TLS clients: set listen_tls = 1 in its "
        "configuration file and start it with --listen, or, where systemd starts it, enable its -tls.socket unit "
        "(libvirtd-tls.socket, virtproxyd-tls.socket)"
    )
    assert result["libvirt_error_code"] == 1
    assert fake.tls_reloads == {}


@pytest.mark.parametrize("check", [False, True])
def test_admin_server_is_refused_naming_the_server_with_tls(fake, run, check):
    result = run(main, {"server": "admin"}, check=check)
    assert result["msg"] == (
        f"Cannot reload the TLS files of server 'admin' of {DEFAULT_TARGET}: the admin server has no TLS listener "
        "(it only serves the daemon's local admin socket); TLS clients are served by server 'libvirtd', "
        "and only when the daemon listens for them"
    )
    assert result["libvirt_error_code"] is None
    assert fake.calls_of("update_tls_files") == []


def test_files_that_do_not_load_keep_the_old_ones(fake, run):
    reason = (
        "Our own certificate /etc/pki/libvirt/servercert.pem failed validation against /etc/pki/CA/cacert.pem: "
        "The certificate hasn't got a known issuer."
    )
    fake.fail_call("update_tls_files", LibvirtAdminError(reason, ERR_SYSTEM_ERROR))
    result = run(main, {})
    assert result["msg"] == (
        f"Cannot reload the TLS files of server 'libvirtd' of {DEFAULT_TARGET}: {reason}; the server keeps serving "
        "the TLS files it had loaded before: fix the files on the daemon's host and run the task again"
    )
    assert result["libvirt_error_code"] == 38


def test_other_failures_are_libvirts_words(fake, run):
    fake.fail_call("update_tls_files", LibvirtAdminError("Cannot recv data: Connection reset by peer", ERR_RPC))
    result = run(main, {})
    assert result["msg"] == (
        f"Cannot reload the TLS files of server 'libvirtd' of {DEFAULT_TARGET}: Cannot recv data: "
        "Connection reset by peer"
    )
    assert result["libvirt_error_code"] == ERR_RPC


@pytest.mark.parametrize("check", [False, True])
def test_daemon_older_than_6_2_is_refused_before_anything(fake, run, check):
    fake.version = 6001000
    result = run(main, {}, check=check)
    assert result["msg"] == (
        f"Reloading TLS files needs libvirt 6.2.0 or newer on the daemon; {DEFAULT_TARGET} runs 6.1.0: "
        "upgrade libvirt there, or restart the daemon to load new files"
    )
    assert [call[0] for call in fake.calls] == ["daemon_version"]


def test_daemon_6_2_is_enough(fake, run):
    fake.version = 6002000
    assert run(main, {})["reloaded"] is True


def test_unknown_server_lists_the_servers(fake, run):
    result = run(main, {"server": "nope"})
    assert result["msg"] == (
        f"Cannot find the server on {DEFAULT_TARGET}: the daemon has no server named 'nope'; "
        "its servers are: admin, libvirtd; set server to one of the daemon's servers"
    )
    assert result["libvirt_error_code"] == 95
    assert fake.calls_of("update_tls_files") == []


def test_connection_failure_hints_at_become(fake, run):
    fake.connect_error = PERMISSION_DENIED
    result = run(main, {"daemon": "libvirtd"})
    assert result["msg"].startswith("Cannot connect to the daemon at libvirtd:///system: Failed to connect socket")
    assert "run the task with become: true" in result["msg"]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"uri": "libvirtd:///system", "daemon": "libvirtd"}, "parameters are mutually exclusive: uri|daemon"),
        ({"daemon": "../libvirtd"}, "daemon must be the name of a libvirt daemon"),
        ({"cert_file": "/tmp/x.pem"}, "Unsupported parameters"),
    ],
)
def test_bad_arguments_fail_without_connecting(fake, run, args, message):
    result = run(main, args)
    assert message in result["msg"]
    assert fake.connections == []
