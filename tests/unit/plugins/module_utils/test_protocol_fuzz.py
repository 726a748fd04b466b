"""Properties of the protocol backend against a hostile daemon: whatever it sends (random bytes, frames
cut short, lengths over the protocol's maximum, headers and bodies a little or very wrong), a call
returns a value or raises LibvirtAdminError, within its timeout, and never anything else."""

from __future__ import annotations

import struct
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _xdr
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_OPERATION_TIMEOUT,
    AdminClient,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection
from tests.harness.admin_peer import CLOSE, AdminPeer, reply

TIMEOUT = 0.2
# A call must be over (returned or raised) this long after it began.
HANG = TIMEOUT + 5.0


def _listed(conn):
    with conn.clients("libvirtd") as listed:
        return listed


CALLS = {
    "daemon_version": lambda conn: conn.daemon_version(),
    "list_servers": lambda conn: conn.list_servers(),
    "get_threadpool": lambda conn: conn.get_threadpool("libvirtd"),
    "get_client_limits": lambda conn: conn.get_client_limits("libvirtd"),
    "clients": _listed,
    "client_info": lambda conn: conn.client_info(AdminClient("libvirtd", 1, 0, 0)),
    "get_logging_outputs": lambda conn: conn.get_logging_outputs(),
    "get_logging_filters": lambda conn: conn.get_logging_filters(),
    "set_threadpool": lambda conn: conn.set_threadpool("libvirtd", {"minWorkers": 1}),
    "daemon_shutdown": lambda conn: conn.daemon_shutdown(),
}
PROCS = {
    "daemon_version": 3,
    "list_servers": 4,
    "get_threadpool": 6,
    "get_client_limits": 12,
    "clients": 8,
    "client_info": 10,
    "get_logging_outputs": 14,
    "get_logging_filters": 15,
    "set_threadpool": 7,
    "daemon_shutdown": 20,
}


u32 = st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1), st.sampled_from([2**31 - 1, 2**32 - 1, 16384, 16385]))


def xdr_strings():
    """XDR strings whose length word may lie."""
    return st.builds(
        lambda text, length: (
            struct.pack(">I", len(text) if length is None else length) + text + b"\0" * (-len(text) % 4)
        ),
        st.binary(max_size=12),
        st.one_of(st.none(), u32),
    )


def typed_param():
    return st.builds(
        lambda name, kind, value: name + struct.pack(">i", kind) + value,
        xdr_strings(),
        st.one_of(st.integers(1, 7), st.integers(-(2**31), 2**31 - 1)),
        st.one_of(st.binary(max_size=8), xdr_strings()),
    )


BODIES = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda count, items: struct.pack(">I", count) + b"".join(items), u32, st.lists(typed_param(), max_size=4)
    ),
    st.builds(
        lambda count, items, tail: struct.pack(">I", count) + b"".join(items) + tail,
        u32,
        st.lists(xdr_strings(), max_size=4),
        st.binary(max_size=8),
    ),
    st.builds(
        lambda flag, text, tail: struct.pack(">I", flag) + text + tail, u32, xdr_strings(), st.binary(max_size=8)
    ),
)


@st.composite
def answers(draw, proc: int, serial: int) -> bytes:
    """One message a daemon could send back: mostly a header close to the right one, with a body of
    XDR-ish parts, then maybe cut short or given a length word that lies."""
    kind = draw(st.sampled_from(["garbage", "frame", "frame", "frame", "error"]))
    if kind == "garbage":
        return draw(st.binary(max_size=80))
    head = struct.pack(
        ">IIiiIi",
        draw(st.one_of(st.just(0x06900690), u32)),
        draw(st.one_of(st.just(1), u32)),
        draw(st.one_of(st.just(proc), st.integers(-(2**31), 2**31 - 1))),
        draw(st.one_of(st.just(1), st.integers(-(2**31), 2**31 - 1))),
        draw(st.one_of(st.just(serial), u32)),
        draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(-(2**31), 2**31 - 1))),
    )
    if kind == "error":
        body = draw(
            st.builds(
                lambda a, b, c: a + b + c, st.binary(min_size=8, max_size=8), xdr_strings(), st.binary(max_size=60)
            )
        )
    else:
        body = draw(BODIES)
    data = head + body
    length = draw(st.one_of(st.just(len(data) + 4), u32, st.sampled_from([0, 3, 27, 28, 2**25 + 4, 2**25 + 5])))
    message = struct.pack(">I", length) + data
    if draw(st.booleans()):
        message = message[: draw(st.integers(0, len(message)))]
    return message


def run_bounded(function):
    """function() in a thread: its value or LibvirtAdminError; fails the test when it runs past HANG or
    raises anything else."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except LibvirtAdminError as error:
            outcome["error"] = error
        except BaseException as error:
            outcome["unexpected"] = error

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), f"the call hung for more than {HANG} s"
    assert "unexpected" not in outcome, repr(outcome.get("unexpected"))
    return outcome, time.monotonic() - start


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(sorted(CALLS)), st.data(), st.sampled_from(["close", "close", "close", "silence"]))
def test_whatever_the_daemon_answers_a_call_returns_or_raises_libvirt_admin_error(name, data, then):
    sent = data.draw(st.lists(answers(PROCS[name], 1), min_size=1, max_size=3))

    def handler(call):
        if call.proc == 1:
            return reply(call)
        return [*sent, CLOSE] if then == "close" else sent

    peer = AdminPeer(handler)
    try:
        conn = ProtocolConnection("libvirtd:///system", timeout=TIMEOUT, sock=peer.client_socket)
        outcome, seconds = run_bounded(lambda: CALLS[name](conn))
        error = outcome.get("error")
        if error is not None and error.code == ERR_OPERATION_TIMEOUT:
            assert seconds >= TIMEOUT * 0.9  # given up when the timeout passed, not before
        # after whatever happened, the connection still answers (or refuses) at once and closes quietly
        run_bounded(conn.daemon_version)
        run_bounded(conn.close)
    finally:
        peer.stop()


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_a_remote_error_body_of_any_bytes_decodes_or_is_an_rpc_error(body):
    try:
        error = _xdr.remote_error(body, "a test")
    except LibvirtAdminError as raised:
        assert raised.code == 39
    else:
        assert isinstance(error, LibvirtAdminError)
        assert isinstance(error.message, str)


@settings(max_examples=500)
@given(st.one_of(BODIES, st.binary(max_size=200)), st.sampled_from([32, 64]))
def test_typed_parameters_of_any_bytes_decode_or_are_an_rpc_error(body, limit):
    decoder = _xdr.Decoder(body, "a test")
    try:
        values = decoder.typed_params(limit)
        decoder.finish()
    except LibvirtAdminError as raised:
        assert raised.code == 39
    else:
        assert len(values) <= limit
        assert all(isinstance(value, (int, float, str, bool)) for value in values.values())
