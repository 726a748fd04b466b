"""_xdr: the XDR codec, typed parameters, framing and remote_error, without a socket."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _xdr
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    ERR_RPC,
    LibvirtAdminError,
)
from tests.harness.admin_peer import remote_error_body


def rpc_failure(function, *args):
    with pytest.raises(LibvirtAdminError) as raised:
        function(*args)
    assert (raised.value.code, raised.value.domain) == (ERR_RPC, _xdr.FROM_RPC)
    return raised.value.message


@given(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)
def test_scalars_and_strings_round_trip(i, u, h, uh, d, text):
    body = _xdr.Encoder().int(i).uint(u).hyper(h).uhyper(uh).double(d).string(text, 200, "x").value()
    assert len(body) % 4 == 0
    decoder = _xdr.Decoder(body, "a test")
    assert (decoder.int(), decoder.uint(), decoder.hyper(), decoder.uhyper(), decoder.double()) == (i, u, h, uh, d)
    expected = text.split("\0")[0]  # C strings end at the first NUL
    assert decoder.string(200, "x") == expected
    decoder.finish()


def test_strings_are_padded_to_four_bytes_and_optional_ones_flagged():
    assert _xdr.Encoder().string("abcde", 10, "x").value() == b"\0\0\0\x05abcde\0\0\0"
    assert _xdr.Encoder().optional_string(None, 10, "x").value() == b"\0\0\0\0"
    assert _xdr.Encoder().optional_string("", 10, "x").value() == b"\0\0\0\x01\0\0\0\0"


def test_decoded_strings_are_c_strings_in_utf8_with_bad_bytes_replaced():
    body = struct.pack(">I", 6) + b"ab\0cd\0\0\0" + struct.pack(">I", 2) + b"\xff\xfe\0\0"
    decoder = _xdr.Decoder(body, "a test")
    assert decoder.string(10, "x") == "ab"
    assert decoder.string(10, "y") == "\ufffd\ufffd"


def test_a_string_longer_than_its_bound_is_refused_both_ways():
    assert "more than the protocol's limit of 4" in rpc_failure(_xdr.Encoder().string, "abcde", 4, "the name")
    decoder = _xdr.Decoder(struct.pack(">I", 5) + b"abcde\0\0\0", "list the daemon's servers")
    message = rpc_failure(decoder.string, 4, "a server's name")
    assert message == (
        "the daemon's reply to list the daemon's servers has a string of 5 bytes for a server's name, more than "
        "the protocol's limit of 4"
    )


def test_a_list_longer_than_its_bound_is_refused_before_it_is_read():
    decoder = _xdr.Decoder(struct.pack(">I", 16385), "list the clients of server libvirtd")
    assert "has 16385 clients, more than the protocol's limit of 16384" in rpc_failure(decoder.count, 16384, "clients")


def test_a_short_body_says_what_was_missing():
    decoder = _xdr.Decoder(b"\0\0\0\x01\0\0", "get the daemon's version")
    message = rpc_failure(decoder.uhyper, "the version")
    assert message == (
        "the daemon's reply to get the daemon's version ends early: the version needs 8 bytes at offset 0, the body "
        "has 6"
    )


def test_trailing_bytes_are_garbage():
    decoder = _xdr.Decoder(b"\0\0\0\x01\0\0\0\x02", "get the daemon's version")
    decoder.uint()
    assert "4 bytes of trailing garbage" in rpc_failure(decoder.finish)


def test_presence_flags_are_0_or_1():
    assert "has 2 as the presence flag" in rpc_failure(_xdr.Decoder(b"\0\0\0\x02", "x").present, "the filters")


TYPED = st.one_of(
    st.tuples(st.just(_xdr.PARAM_INT), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(_xdr.PARAM_UINT), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(_xdr.PARAM_LLONG), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(_xdr.PARAM_ULLONG), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(_xdr.PARAM_DOUBLE), st.floats()),
    st.tuples(st.just(_xdr.PARAM_BOOLEAN), st.booleans()),
    st.tuples(
        st.just(_xdr.PARAM_STRING),
        st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20),
    ),
)


@given(st.dictionaries(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=79), TYPED, max_size=8))
def test_typed_parameters_of_every_type_round_trip(values):
    params = [(name, kind, value) for name, (kind, value) in values.items()]
    body = _xdr.Encoder().typed_params(params, 32, "x").value()
    decoder = _xdr.Decoder(body, "a test")
    decoded = decoder.typed_params(32)
    decoder.finish()
    assert list(decoded) == list(values)
    for name, (kind, value) in values.items():
        if kind == _xdr.PARAM_DOUBLE and math.isnan(value):
            assert math.isnan(decoded[name])
        else:
            assert decoded[name] == value
            assert type(decoded[name]) is type(value)


def test_typed_parameter_wire_format():
    """admin_typed_param: the name, the type as the union's discriminant, then the value."""
    body = _xdr.Encoder().typed_params([("minWorkers", _xdr.PARAM_UINT, 7)], 32, "x").value()
    assert body == struct.pack(">I", 1) + struct.pack(">I", 10) + b"minWorkers\0\0" + struct.pack(">iI", 2, 7)


def test_a_boolean_keeps_the_low_byte_as_the_c_library_does():
    body = _xdr.Encoder().uint(2).string("a", 80, "x").int(_xdr.PARAM_BOOLEAN).int(256)
    body = body.string("b", 80, "x").int(_xdr.PARAM_BOOLEAN).int(3).value()
    assert _xdr.Decoder(body, "x").typed_params(32) == {"a": False, "b": True}


def test_typed_parameters_the_daemon_cannot_have_sent_are_refused():
    unknown = _xdr.Encoder().uint(1).string("a", 80, "x").int(9).value()
    assert "unknown parameter type 9 for a" in rpc_failure(_xdr.Decoder(unknown, "x").typed_params, 32)
    long_name = _xdr.Encoder().uint(1).string("n" * 80, 100, "x").int(_xdr.PARAM_INT).int(1).value()
    assert "name longer than 79 bytes" in rpc_failure(_xdr.Decoder(long_name, "x").typed_params, 32)
    too_many = _xdr.Encoder().uint(33).value()
    assert "has 33 typed parameters, more than the protocol's limit of 32" in rpc_failure(
        _xdr.Decoder(too_many, "x").typed_params, 32
    )


def test_too_many_or_out_of_range_parameters_are_not_sent():
    params = [(f"p{index}", _xdr.PARAM_UINT, 1) for index in range(33)]
    # virTypedParamsSerialize's words for the same call
    assert rpc_failure(_xdr.Encoder().typed_params, params, 32, "x") == "too many parameters '33' for limit '32'"
    assert "cannot hold -1" in rpc_failure(_xdr.Encoder().typed_params, [("a", _xdr.PARAM_UINT, -1)], 32, "x")
    assert "cannot hold True" in rpc_failure(_xdr.Encoder().typed_params, [("a", _xdr.PARAM_INT, True)], 32, "x")


def test_the_call_frame_is_the_one_libvirt_admin_so_sends():
    """What libvirt 9.0's and 11.3's virAdmConnectOpen() put on the wire first (seen with a fake socket)."""
    head = _xdr.header(0x06900690, 1, 1, _xdr.CALL, 0, _xdr.OK)
    assert _xdr.frame(head, b"\0\0\0\0").hex() == "00000020069006900000000100000001" + "00" * 12 + "00000000"


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (0, "packet 0 bytes received from server too small, want at least 28 (the length word and the header)"),
        (27, "packet 27 bytes received from server too small, want at least 28 (the length word and the header)"),
        (2**25 + 5, "packet 33554433 bytes received from server too large, want 33554432"),
        (2**32 - 1, "packet 4294967291 bytes received from server too large, want 33554432"),
    ],
)
def test_frame_lengths_outside_the_protocol_are_refused(length, message):
    assert rpc_failure(_xdr.frame_length, struct.pack(">I", length)) == message


def test_the_largest_frame_is_accepted():
    assert _xdr.frame_length(struct.pack(">I", 2**25 + 4)) == 2**25 + 4
    assert _xdr.frame_length(struct.pack(">I", 28)) == 28


# What libvirt-admin.so 9.0 and 11.3 raised for each remote_error (a fake daemon sent them):
# (code, domain, level, message) sent -> (code, domain, message) raised.
REMOTE_ERRORS = [
    ((95, 62, 2, "hello err"), (95, 62, "hello err")),
    ((39, 7, 2, "unknown procedure: 20"), (3, 7, "unknown procedure: 20")),
    ((39, 13, 2, "unknown procedure 5"), (3, 13, "unknown procedure 5")),
    ((39, 7, 1, "unknown procedure 5"), (39, 7, "unknown procedure 5")),  # a warning, not an error
    ((39, 62, 2, "unknown procedure 5"), (39, 62, "unknown procedure 5")),  # not from the RPC layer
    ((1, 7, 2, None), (1, 7, "Unknown error")),
    ((0, 7, 2, "zero"), (1, 0, "An error occurred, but the cause is unknown")),
    ((61, 7, 2, "x"), (65, 7, "x")),  # libvirt 0.7's VIR_ERR_INVALID_SECRET
    ((61, 33, 2, "x"), (61, 33, "x")),
    ((64, 10, 2, "x"), (68, 10, "x")),
    ((65, 1, 2, "x"), (69, 1, "x")),
]


@pytest.mark.parametrize(("sent", "raised"), REMOTE_ERRORS)
def test_remote_errors_become_what_the_library_raises(sent, raised):
    code, domain, level, text = sent
    error = _xdr.remote_error(remote_error_body(code, domain, text, level), "a test")
    assert (error.code, error.domain, error.message) == raised


def test_a_remote_error_with_every_field_set_is_read_whole():
    body = struct.pack(">ii", 95, 7) + struct.pack(">I", 1) + _xdr.Encoder().string("No server", 99, "x").value()
    body += struct.pack(">i", 2)
    body += struct.pack(">I", 1) + _xdr.Encoder().string("dom", 9, "x").value() + b"u" * 16 + struct.pack(">i", 3)
    for text in ("s1", "s2", "s3"):
        body += struct.pack(">I", 1) + _xdr.Encoder().string(text, 9, "x").value()
    body += struct.pack(">ii", 4, 5)
    body += struct.pack(">I", 1) + _xdr.Encoder().string("net", 9, "x").value() + b"n" * 16
    error = _xdr.remote_error(body, "a test")
    assert (error.code, error.domain, error.message) == (95, 7, "No server")
    assert "trailing garbage" in rpc_failure(_xdr.remote_error, body + b"\0\0\0\0", "a test")


def test_a_string_that_is_not_valid_text_is_refused_before_it_is_sent():
    with pytest.raises(LibvirtAdminError) as raised:
        _xdr.Encoder().string("libvirtd\ud800", 64, "the server name")
    assert raised.value.code == ERR_INVALID_ARG
    assert "the server name 'libvirtd\\ud800' cannot be sent to libvirt: it is not valid text" in raised.value.message
