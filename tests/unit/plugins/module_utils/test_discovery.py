"""_discovery: admin sockets found by their names in a run folder of real (bound, unserved) sockets,
the system URI of a daemon by its name, and the name of a shared socket's daemon by its servers."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._discovery import (
    admin_sockets,
    named_by_servers,
    system_uri,
)


def bind(path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # the file stays after the socket is closed


def test_every_daemon_admin_socket_is_found_by_its_name(tmp_path):
    for name in ("libvirt-admin-sock", "virtqemud-admin-sock", "virtlogd-admin-sock", "virtqemud-sock"):
        bind(tmp_path / name)
    os.link(tmp_path / "libvirt-admin-sock", tmp_path / "virtnetworkd-admin-sock")  # a hard link is a socket too
    (tmp_path / "virtfile-admin-sock").write_text("")  # not a socket
    (tmp_path / "virtdir-admin-sock").mkdir()
    assert admin_sockets(str(tmp_path), "system") == [
        ("libvirtd", f"libvirtd:///system?socket={tmp_path}/libvirt-admin-sock"),
        ("virtlogd", f"virtlogd:///system?socket={tmp_path}/virtlogd-admin-sock"),
        ("virtnetworkd", f"virtnetworkd:///system?socket={tmp_path}/virtnetworkd-admin-sock"),
        ("virtqemud", f"virtqemud:///system?socket={tmp_path}/virtqemud-admin-sock"),
    ]
    assert admin_sockets(str(tmp_path), "session")[0] == (
        "libvirtd",
        f"libvirtd:///session?socket={tmp_path}/libvirt-admin-sock",
    )


def test_a_missing_run_folder_has_no_daemon(tmp_path):
    assert admin_sockets(str(tmp_path / "none"), "system") == []


@pytest.mark.parametrize(
    ("daemon", "uri"),
    [
        ("libvirtd", "libvirtd:///system"),
        ("virtqemud", "virtqemud:///system"),
        ("virtlogd", "virtlogd:///system"),
        # libvirt's library would look for /run/libvirt/virtproxyd-admin-sock, which no daemon serves
        ("virtproxyd", "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"),
    ],
)
def test_system_uri(daemon, uri):
    assert system_uri(daemon) == uri


SHARED = "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"


@pytest.mark.parametrize(
    ("daemon", "uri", "servers", "named"),
    [
        ("libvirtd", SHARED, ["libvirtd", "admin"], ("libvirtd", SHARED)),
        (
            "libvirtd",
            SHARED,
            ["virtproxyd", "admin"],
            ("virtproxyd", "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"),
        ),
        (
            "libvirtd",
            SHARED,
            ["admin", "virtproxyd"],
            ("virtproxyd", "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"),
        ),
        ("libvirtd", SHARED, ["admin"], ("libvirtd", SHARED)),
        ("libvirtd", SHARED, ["Not A Daemon", "admin"], ("libvirtd", SHARED)),
        # a socket named after its daemon keeps that name, whoever serves it
        (
            "virtqemud",
            "virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock",
            ["libvirtd", "admin"],
            ("virtqemud", "virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock"),
        ),
    ],
)
def test_the_shared_socket_is_named_by_its_daemons_own_server(daemon, uri, servers, named):
    assert named_by_servers(daemon, uri, servers) == named
