"""ProtocolConnection against a fake daemon over a socketpair (tests/harness/admin_peer.py): what it
sends (the bytes libvirt-admin.so sends for the same call, where known), what it makes of each reply,
and that a peer that breaks the protocol, stalls or hangs up gets a clear error, never a hang."""

from __future__ import annotations

import struct
import threading
import time

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol, _xdr
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INTERNAL_ERROR,
    ERR_INVALID_ARG,
    ERR_NO_SERVER,
    ERR_OPERATION_TIMEOUT,
    ERR_RPC,
    AdminClient,
    LibvirtAdminError,
    open_connection,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection
from tests.harness import admin_peer
from tests.harness.admin_peer import CLOSE, AdminPeer, error_reply, reply, xdr_string

URI = "libvirtd:///system"


def params(*items) -> bytes:
    """admin_typed_param[] from (name, type, value)."""
    return _xdr.Encoder().typed_params(list(items), 64, "x").value()


def answering(answers: dict):
    """A handler: answers[proc](call) for the procedures given, the default daemon's answer otherwise."""

    def handler(call):
        if call.proc in answers:
            return answers[call.proc](call)
        return admin_peer.default_handler(call)

    return handler


@pytest.fixture
def peer_with():
    peers, conns = [], []

    def make(answers=None, timeout=2.0, handler=None):
        peer = AdminPeer(handler or answering(answers or {}))
        peers.append(peer)
        conn = ProtocolConnection(URI, timeout=timeout, sock=peer.client_socket)
        conns.append(conn)
        return conn, peer

    yield make
    for conn in conns:
        conn.close()
    for peer in peers:
        peer.stop()


def rpc_failure(function, *args) -> str:
    with pytest.raises(LibvirtAdminError) as raised:
        function(*args)
    assert (raised.value.code, raised.value.domain) == (ERR_RPC, _xdr.FROM_RPC), raised.value.message
    return raised.value.message


# ---------------------------------------------------------------- what goes out


def test_opening_sends_connect_open_with_flags_0_as_the_library_does(peer_with):
    conn, peer = peer_with()
    first = peer.calls[0]
    assert (first.program, first.version, first.proc, first.kind, first.serial, first.status) == (
        0x06900690,
        1,
        1,
        0,
        0,
        0,
    )
    assert first.body == b"\0\0\0\0"
    assert conn.backend == "protocol"


# The bodies libvirt-admin.so 11.3 sent for the same calls (virt-admin against a fake socket).
LIBRARY_BODIES = [
    (lambda conn: conn.set_daemon_timeout(17), 19, "0000001100000000"),
    (lambda conn: conn.set_logging_outputs("1:stderr"), 16, "0000000100000008313a73746465727200000000"),
    (lambda conn: conn.set_logging_filters(""), 17, "000000010000000000000000"),
    (lambda conn: conn.lookup_server("libvirtd"), 5, "000000086c6962766972746400000000"),
    (lambda conn: conn.daemon_shutdown(), 20, "00000000"),
    (lambda conn: conn.daemon_shutdown(preserve=True), 20, "00000001"),
]


@pytest.mark.parametrize(("make_call", "proc", "body"), LIBRARY_BODIES)
def test_calls_send_what_libvirt_admin_so_sends(peer_with, make_call, proc, body):
    conn, peer = peer_with({proc: lambda call: reply(call, xdr_string("libvirtd") if proc == 5 else b"")})
    make_call(conn)
    call = peer.calls[-1]
    assert (call.proc, call.serial, call.kind, call.status, call.body.hex()) == (proc, 1, 0, 0, body)


def test_serials_count_up_from_the_open(peer_with):
    conn, peer = peer_with()
    for _index in range(3):
        conn.daemon_version()
    assert [call.serial for call in peer.calls] == [0, 1, 2, 3]


def test_setting_sends_uint_typed_parameters(peer_with):
    conn, peer = peer_with({7: reply, 13: reply})
    conn.set_threadpool("libvirtd", {"minWorkers": 2, "maxWorkers": 9})
    conn.set_client_limits("admin", {"nclients_max": 10})
    lookup, threadpool, lookup_again, limits = peer.calls[-4:]
    assert (lookup.proc, lookup.body, lookup_again.proc) == (5, xdr_string("libvirtd") + b"\0\0\0\0", 5)
    assert threadpool.body == xdr_string("libvirtd") + params(
        ("minWorkers", _xdr.PARAM_UINT, 2), ("maxWorkers", _xdr.PARAM_UINT, 9)
    ) + struct.pack(">I", 0)
    assert (limits.proc, limits.body) == (13, xdr_string("admin") + params(("nclients_max", 2, 10)) + b"\0\0\0\0")


@pytest.mark.parametrize("value", [-1, 2**32, True, "5", 5.0, None])
def test_a_value_that_is_no_uint_is_refused_before_anything_is_sent(peer_with, value):
    conn, peer = peer_with()
    with pytest.raises(LibvirtAdminError) as raised:
        conn.set_threadpool("libvirtd", {"minWorkers": value})
    assert raised.value.code == ERR_INVALID_ARG
    assert len(peer.calls) == 1


def test_client_calls_name_the_client_as_listed(peer_with):
    conn, peer = peer_with({10: lambda call: reply(call, params()), 11: reply})
    client = AdminClient("libvirtd", 42, 1700000000, 2)
    conn.client_info(client)
    conn.close_client(client)
    expected = xdr_string("libvirtd") + struct.pack(">QqI", 42, 1700000000, 2) + struct.pack(">I", 0)
    assert [(call.proc, call.body) for call in peer.calls[-2:]] == [(10, expected), (11, expected)]


# ---------------------------------------------------------------- what comes back


def test_replies_are_read_into_the_seams_values(peer_with):
    info = params(
        ("readonly", _xdr.PARAM_BOOLEAN, True),
        ("sock_addr", _xdr.PARAM_STRING, "127.0.0.1:5000"),
        ("unix_user_id", _xdr.PARAM_INT, 0),
        ("ull", _xdr.PARAM_ULLONG, 2**64 - 1),
        ("ll", _xdr.PARAM_LLONG, -5),
        ("d", _xdr.PARAM_DOUBLE, 0.5),
    )
    clients = struct.pack(">I", 2)
    clients += xdr_string("libvirtd") + struct.pack(">QqI", 1, 1700000000, 0)
    clients += xdr_string("libvirtd") + struct.pack(">QqI", 7, 0, 1) + struct.pack(">I", 2)
    conn, _peer = peer_with(
        {
            6: lambda call: reply(call, params(("minWorkers", 2, 5), ("nWorkers", 2, 3))),
            8: lambda call: reply(call, clients),
            10: lambda call: reply(call, info),
            12: lambda call: reply(call, params(("nclients_max", 2, 5000))),
            14: lambda call: reply(call, xdr_string("3:stderr") + struct.pack(">I", 1)),
            15: lambda call: reply(call, struct.pack(">II", 0, 0)),  # no filters: a NULL string
        }
    )
    assert conn.uri() == URI
    assert conn.daemon_version() == 9000000
    assert conn.list_servers() == ["libvirtd", "admin"]
    assert conn.get_threadpool("libvirtd") == {"minWorkers": 5, "nWorkers": 3}
    assert conn.get_client_limits("libvirtd") == {"nclients_max": 5000}
    with conn.clients("libvirtd") as listed:
        assert [(c.server, c.id, c.timestamp, c.transport) for c in listed] == [
            ("libvirtd", 1, 1700000000, 0),
            ("libvirtd", 7, 0, 1),
        ]
        assert conn.client_info(listed[0]) == {
            "readonly": True,
            "sock_addr": "127.0.0.1:5000",
            "unix_user_id": 0,
            "ull": 2**64 - 1,
            "ll": -5,
            "d": 0.5,
        }
    assert conn.get_logging_outputs() == "3:stderr"
    assert conn.get_logging_filters() == ""


def test_server_calls_look_the_server_up_first_as_the_library_does(peer_with):
    conn, peer = peer_with({6: lambda call: error_reply(call, 95, 62, "no server with matching name 'x' found")})
    with pytest.raises(LibvirtAdminError) as raised:
        conn.get_threadpool("nosuch")
    assert (raised.value.domain, raised.value.message) == (7, "Server not found: No server named 'nosuch'")
    assert [call.proc for call in peer.calls] == [1, 5]  # the call itself was not made


def test_daemon_errors_come_with_the_daemons_code_domain_and_words(peer_with):
    conn, _peer = peer_with({6: lambda call: error_reply(call, 95, 7, "Server not found: No server named 'x'")})
    with pytest.raises(LibvirtAdminError) as raised:
        conn.get_threadpool("x")
    assert (raised.value.code, raised.value.domain, raised.value.message) == (
        ERR_NO_SERVER,
        7,
        "Server not found: No server named 'x'",
    )
    assert conn.daemon_version() == 9000000  # the connection is fine


def test_a_call_an_older_daemon_lacks_is_no_support(peer_with):
    conn, _peer = peer_with()  # the default daemon knows procedures 1 to 4 only
    with pytest.raises(LibvirtAdminError) as raised:
        conn.daemon_shutdown()
    assert (raised.value.code, raised.value.message) == (3, "unknown procedure: 20")


def test_shutdown_is_done_when_the_daemon_hangs_up(peer_with):
    conn, _peer = peer_with({20: lambda call: CLOSE})
    assert conn.daemon_shutdown() is None
    with pytest.raises(LibvirtAdminError, match="client socket is closed"):
        conn.daemon_version()


def test_a_refused_open_closes_the_socket():
    peer = AdminPeer(answering({1: lambda call: error_reply(call, 39, 7, "Cannot find program 110102160 version 1")}))
    with pytest.raises(LibvirtAdminError) as raised:
        ProtocolConnection(URI, sock=peer.client_socket)
    assert (raised.value.code, raised.value.domain, raised.value.message) == (
        ERR_RPC,
        7,
        "Cannot find program 110102160 version 1",
    )
    assert peer.client_socket.fileno() == -1
    peer.stop()


# ---------------------------------------------------------------- a peer that breaks the protocol


def test_a_reply_to_the_wrong_program_or_version_is_refused_and_the_socket_given_up(peer_with):
    for changes in ({"program": 0x20008086}, {"version": 2}):
        conn, _peer = peer_with({3: lambda call, changes=changes: reply(call, b"\0" * 8, **changes)})
        assert "not of the admin protocol" in rpc_failure(conn.daemon_version)
        with pytest.raises(LibvirtAdminError) as raised:
            conn.daemon_version()
        assert (raised.value.code, raised.value.message) == (
            ERR_INTERNAL_ERROR,
            "internal error: client socket is closed",
        )


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kind": 0}, "a message of type 0"),
        ({"kind": 2}, "a message of type 2"),
        ({"kind": 5}, "a message of type 5"),
        ({"serial": 99}, "serial 99, to no call made"),
    ],
)
def test_a_message_that_is_no_reply_to_a_call_made_is_refused(peer_with, changes, words):
    conn, _peer = peer_with({3: lambda call: reply(call, b"\0" * 8, **changes)})
    assert words in rpc_failure(conn.daemon_version)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"proc": 4}, "is for procedure 4, but the call was procedure 3"),
        ({"status": 2}, "Unexpected message status 2"),
        ({"status": 7}, "Unexpected message status 7"),
    ],
)
def test_a_reply_with_the_wrong_procedure_or_status_fails_that_call_only(peer_with, changes, words):
    conn, _peer = peer_with({3: lambda call: reply(call, b"\0" * 8, **changes)})
    assert words in rpc_failure(conn.daemon_version)
    assert conn.list_servers() == ["libvirtd", "admin"]  # the connection still works


def test_bodies_that_are_short_long_or_over_a_bound_are_refused(peer_with):
    conn, _peer = peer_with(
        {
            3: lambda call: reply(call, b"\0" * 4),
            4: lambda call: reply(call, struct.pack(">I", 16385)),
            14: lambda call: reply(call, xdr_string("x") + struct.pack(">II", 1, 0)),
            15: lambda call: reply(call, struct.pack(">II", 1, 4194305)),
        }
    )
    assert "ends early" in rpc_failure(conn.daemon_version)
    assert "has 16385 servers, more than the protocol's limit of 16384" in rpc_failure(conn.list_servers)
    assert "4 bytes of trailing garbage" in rpc_failure(conn.get_logging_outputs)
    assert "string of 4194305 bytes" in rpc_failure(conn.get_logging_filters)


def test_a_listing_whose_count_disagrees_with_its_list_is_refused(peer_with):
    conn, _peer = peer_with(
        {4: lambda call: reply(call, struct.pack(">I", 1) + xdr_string("a") + struct.pack(">I", 2))}
    )
    assert "counts 2 servers but lists 1" in rpc_failure(conn.list_servers)


@pytest.mark.parametrize(
    ("sent", "words"),
    [
        (struct.pack(">I", 3), "packet 3 bytes received from server too small"),
        (struct.pack(">I", 20) + b"\0" * 16, "packet 20 bytes received from server too small"),
        (struct.pack(">I", 0x7FFFFFFF), "packet 2147483643 bytes received from server too large, want 33554432"),
        (b"", "End of file while reading data: the daemon closed the connection"),
        (b"\0\0", "in the middle of a message (2 of its at least 4 bytes read)"),
        (struct.pack(">I", 40) + b"\0" * 10, "in the middle of a message (14 of its 40 bytes read)"),
    ],
)
def test_a_broken_frame_or_a_hang_up_fails_every_call_in_flight(peer_with, sent, words):
    conn, _peer = peer_with({3: lambda call: [sent, CLOSE]})
    assert words in rpc_failure(conn.daemon_version)
    with pytest.raises(LibvirtAdminError, match="client socket is closed"):
        conn.list_servers()


# ---------------------------------------------------------------- timeouts


def test_a_daemon_that_never_answers_is_given_up_after_the_timeout(peer_with):
    conn, _peer = peer_with({3: lambda call: None}, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(LibvirtAdminError) as raised:
        conn.daemon_version()
    assert 0.25 <= time.monotonic() - start < 2
    assert raised.value.code == ERR_OPERATION_TIMEOUT
    assert raised.value.message == (
        "the daemon did not answer within 0.3 s (to get the daemon's version, on the socket given for "
        "libvirtd:///system)"
    )


def test_a_late_reply_is_dropped_and_the_connection_goes_on(peer_with):
    late = []

    def slow_then_fast(call):
        if not late:
            late.append(call)
            return None  # answered with the next call's reply, too late
        return [reply(late[0], b"\0" * 8), reply(call, struct.pack(">Q", 11003000))]

    conn, _peer = peer_with({3: slow_then_fast}, timeout=0.3)
    with pytest.raises(LibvirtAdminError, match=r"did not answer within 0\.3 s"):
        conn.daemon_version()
    assert conn.daemon_version() == 11003000


def test_half_a_message_then_silence_is_given_up_too(peer_with):
    conn, _peer = peer_with({3: lambda call: reply(call, b"\0" * 8)[:10]}, timeout=0.3)
    with pytest.raises(LibvirtAdminError) as raised:
        conn.daemon_version()
    assert raised.value.code == ERR_OPERATION_TIMEOUT


def test_opening_is_bounded_by_the_timeout_too():
    peer = AdminPeer(lambda call: None)
    start = time.monotonic()
    with pytest.raises(LibvirtAdminError, match=r"did not answer within 0\.2 s \(to open the admin connection"):
        ProtocolConnection(URI, timeout=0.2, sock=peer.client_socket)
    assert time.monotonic() - start < 2
    peer.stop()


# ---------------------------------------------------------------- threads


def test_calls_from_several_threads_are_in_flight_together_and_each_gets_its_own_reply(peer_with):
    """The fake daemon holds each call until three are in, then answers them last first."""
    held = []
    lock = threading.Lock()

    def client_id(call) -> int:  # after the server name ("libvirtd", 12 bytes)
        return struct.unpack(">Q", call.body[12:20])[0]

    def reverse(call):
        with lock:
            held.append(call)
            if len(held) < 3:
                return None
            batch, held[:] = list(held), []
        return [
            reply(item, params(("id", _xdr.PARAM_ULLONG, struct.unpack(">Q", item.body[12:20])[0])))
            for item in batch[::-1]
        ]

    conn, _peer = peer_with({10: reverse}, timeout=5)
    results = {}

    def work(first: int) -> None:
        for client_id in range(first, first + 30):
            results[client_id] = conn.client_info(AdminClient("libvirtd", client_id, 0, 0))["id"]

    threads = [threading.Thread(target=work, args=(first,)) for first in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {client_id: client_id for client_id in results}
    assert len(results) == 90


# ---------------------------------------------------------------- the connection's life


def test_closing_says_goodbye_once_and_later_calls_are_refused(peer_with):
    conn, peer = peer_with()
    conn.close()
    conn.close()
    assert [call.proc for call in peer.calls] == [1, 2]
    with pytest.raises(LibvirtAdminError) as raised:
        conn.list_servers()
    assert (raised.value.code, raised.value.message) == (ERR_INVALID_ARG, "the admin connection is closed")


def test_closing_a_connection_whose_daemon_left_does_not_raise(peer_with):
    conn, peer = peer_with()
    peer.stop()
    conn.close()


def test_a_connection_over_a_given_socket_reports_its_uri_verbatim_and_cannot_reopen(peer_with):
    conn, _peer = peer_with()
    assert conn.uri() == URI
    with pytest.raises(LibvirtAdminError, match="cannot be reopened"):
        conn.reopen()


def test_open_connection_picks_it_for_backend_protocol(tmp_path):
    path = str(tmp_path / "admin-sock")
    listener = admin_peer.listen(path)
    try:
        with open_connection(f"libvirtd:///system?socket={path}", backend="protocol", timeout=5) as conn:
            assert isinstance(conn, ProtocolConnection)
            assert conn.uri() == f"libvirtd:///system?socket={path}"
            assert conn.list_servers() == ["libvirtd", "admin"]
            with conn.reopen() as again:
                assert again.daemon_version() == 9000000
    finally:
        listener.close()


def test_no_daemon_at_the_socket_is_libvirts_error(tmp_path):
    with pytest.raises(LibvirtAdminError) as raised:
        ProtocolConnection(f"libvirtd:///system?socket={tmp_path}/none")
    assert (raised.value.code, raised.value.domain, raised.value.message) == (
        38,
        7,
        f"Failed to connect socket to '{tmp_path}/none': No such file or directory",
    )


def test_a_path_too_long_for_a_unix_socket_is_libvirts_error():
    path = "/tmp/" + "x" * 103
    with pytest.raises(LibvirtAdminError) as raised:
        ProtocolConnection(f"libvirtd:///system?socket={path}")
    assert raised.value.message == f"Path {path} too long for unix socket: Cannot allocate memory"


def test_a_full_listen_queue_is_waited_on_until_the_timeout(tmp_path):
    """A daemon that accepts nobody: libvirt would block in connect(); this gives up."""
    import socket

    path = str(tmp_path / "sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    queued = []
    try:
        for _index in range(3):  # fill the queue
            extra = socket.socket(socket.AF_UNIX)
            extra.setblocking(False)
            try:
                extra.connect(path)
            except BlockingIOError:
                extra.close()
                break
            queued.append(extra)
        with pytest.raises(LibvirtAdminError) as raised:
            ProtocolConnection(f"libvirtd:///system?socket={path}", timeout=0.3)
        assert raised.value.code == ERR_OPERATION_TIMEOUT
    finally:
        for extra in queued:
            extra.close()
        listener.close()


def test_module_constants_match_admin_protocol_x():
    assert (_protocol.ADMIN_PROGRAM, _protocol.ADMIN_PROTOCOL_VERSION) == (0x06900690, 1)
    assert _protocol.PROC_CONNECT_DAEMON_SHUTDOWN == 20
    assert (_protocol.ADMIN_SERVER_LIST_MAX, _protocol.ADMIN_CLIENT_LIST_MAX) == (16384, 16384)
    assert _protocol.ADMIN_CLIENT_INFO_PARAMETERS_MAX == 64


@pytest.mark.parametrize("pipelining", [True, False])
def test_one_at_a_time_sends_a_call_only_once_the_one_before_is_answered(pipelining):
    """While the fake daemon holds the first of three threads' calls, it looks whether the next one is
    already waiting on the socket: pipelined it is, one at a time it is not."""
    import socket

    waiting = []
    peers = []

    def holding(call):
        if call.proc == 3:
            time.sleep(0.1)
            try:
                waiting.append(bool(peers[0].server_socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)))
            except BlockingIOError:
                waiting.append(False)
            return reply(call, struct.pack(">Q", 9000000))
        return admin_peer.default_handler(call)

    peers.append(AdminPeer(holding))
    conn = ProtocolConnection(URI, timeout=5, sock=peers[0].client_socket)
    conn.pipelining = pipelining
    threads = [threading.Thread(target=conn.daemon_version) for _index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    conn.close()
    peers[0].stop()
    assert len(waiting) == 3
    assert waiting[0] is pipelining
