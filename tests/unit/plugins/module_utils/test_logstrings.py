"""_logparse, _logstrings and _logging without a daemon: properties of the parser, validator and
normaliser of log outputs and filters, the comparison, and the rollback of apply()."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _logging, _logstrings
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_INVALID_ARG, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._logparse import (
    parse_filter,
    parse_filters,
    parse_output,
    parse_outputs,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._logstrings import (
    read_filters,
    read_outputs,
    render_filter,
    render_output,
    same_outputs,
    stored_filter,
)

# Text a user may write in a match, a syslog ident or a file name: no ':' (the field separator), no
# whitespace (the item separator), no control characters, no surrogates (they cannot be sent as UTF-8).
TEXT_CHARACTERS = st.one_of(
    st.sampled_from("*+-._?[]!\\/~%é✓"),
    st.characters(codec="utf-8", exclude_categories=("Cc", "Zs", "Zl", "Zp"), exclude_characters=":"),
).filter(lambda char: not char.isspace())


@st.composite
def levels(draw) -> tuple:
    """(written, level): '+' and leading zeros pass the daemon's strtoul."""
    level = draw(st.integers(1, 4))
    return f"{draw(st.sampled_from(['', '+']))}{'0' * draw(st.integers(0, 3))}{level}", level


def plain_matches() -> st.SearchStrategy:
    return st.text(TEXT_CHARACTERS, min_size=1, max_size=16).filter(lambda match: not match.startswith("+"))


def plus_matches() -> st.SearchStrategy:
    """Matches that themselves start with '+' (written with the '+' the daemon drops: '1:++a')."""
    return st.text(TEXT_CHARACTERS, max_size=15).map(lambda rest: f"+{rest}")


@st.composite
def filters(draw, matches: st.SearchStrategy) -> tuple:
    """(written, parsed) of a valid filter."""
    written_level, level = draw(levels())
    match = draw(matches)
    plus = "+" if match.startswith("+") else draw(st.sampled_from(["", "+"]))
    return f"{written_level}:{plus}{match}", (level, match)


NAMES = st.text(TEXT_CHARACTERS.filter(lambda char: char != "/"), min_size=1, max_size=8).filter(
    lambda name: name not in (".", "..")
)


@st.composite
def noisy_paths(draw, segments: list) -> str:
    """segments written as an absolute path with '.', 'name/..', '//' and leading '/', '//' or '///';
    g_canonicalize_filename turns it back into the segments, under '//' only for exactly two."""
    leading = draw(st.integers(1, 3))
    tokens = []
    if draw(st.booleans()):
        tokens.append("..")  # climbing above the root stays at the root
    for segment in [*segments, None]:
        for noise in draw(st.lists(st.sampled_from([".", "pair"]), max_size=2)):
            tokens.extend([draw(NAMES), ".."] if noise == "pair" else ["."])
        if segment is not None:
            tokens.append(segment)
    path = "/" * leading + tokens[0]
    for token in tokens[1:]:
        path += draw(st.sampled_from(["/", "/", "//"])) + token
    return path + draw(st.sampled_from(["", "", "/", "/."]))


@st.composite
def file_paths(draw) -> tuple:
    """(written, normalised) of an absolute file path."""
    segments = draw(st.lists(NAMES, min_size=1, max_size=4))
    written = draw(noisy_paths(segments))
    prefix = "//" if written.startswith("//") and not written.startswith("///") else "/"
    return written, prefix + "/".join(segments)


@st.composite
def outputs(draw) -> tuple:
    """(written, parsed) of a valid output."""
    written_level, level = draw(levels())
    kind = draw(st.sampled_from(["stderr", "journald", "syslog", "file"]))
    if kind in ("stderr", "journald"):
        return f"{written_level}:{kind}", (level, kind, None)
    if kind == "syslog":
        ident = draw(st.text(TEXT_CHARACTERS, min_size=1, max_size=12))
        return f"{written_level}:syslog:{ident}", (level, "syslog", ident)
    written_path, path = draw(file_paths())
    return f"{written_level}:file:{written_path}", (level, "file", path)


def output_lists(min_size: int = 0) -> st.SearchStrategy:
    """Valid outputs with distinct destinations."""
    return st.lists(outputs(), min_size=min_size, max_size=5, unique_by=lambda pair: pair[1][1:])


MATCH_DOMAINS = [
    pytest.param(plain_matches(), id="plain"),
    pytest.param(plus_matches(), id="leading-plus"),
]


# Round trips


@pytest.mark.parametrize("matches", MATCH_DOMAINS)
@given(data=st.data())
def test_filter_parse_render_parse_is_stable(matches, data):
    written, parsed = data.draw(filters(matches))
    assert parse_filter(written) == parsed
    assert parse_filter(render_filter(parsed)) == parsed
    assert render_filter(parse_filter(render_filter(parsed))) == render_filter(parsed)


@given(pair=outputs())
def test_output_parse_render_parse_is_stable(pair):
    written, parsed = pair
    assert parse_output(written) == parsed
    assert parse_output(render_output(parsed)) == parsed
    assert render_output(parse_output(render_output(parsed))) == render_output(parsed)


@pytest.mark.parametrize("matches", [pytest.param(plain_matches(), id="plain"), pytest.param(plus_matches(), id="+")])
@given(data=st.data())
def test_reading_the_daemons_filters_undoes_its_rewriting(matches, data):
    pairs = data.draw(st.lists(filters(matches), max_size=6))
    parsed = parse_filters([written for written, expected in pairs])
    assert parsed == [expected for written, expected in pairs]
    # The daemon reports each filter as LEVEL:*MATCH*, space separated, with a trailing space.
    daemon_text = "".join(f"{render_filter(stored_filter(item))} " for item in parsed)
    assert read_filters(daemon_text) == parsed
    assert read_filters(" ".join(render_filter(stored_filter(item)) for item in parsed)) == parsed


def test_a_match_in_stars_is_wrapped_once_more_and_read_back():
    parsed = parse_filter("1:*a*")
    assert stored_filter(parsed) == (1, "**a**")
    assert read_filters("1:**a** ") == [parsed]
    assert read_filters("4:*** ") == [(4, "*")]


@given(pairs=output_lists())
def test_reading_rendered_outputs_gives_the_parsed_outputs(pairs):
    parsed = parse_outputs([written for written, expected in pairs])
    assert parsed == [expected for written, expected in pairs]
    assert read_outputs(" ".join(render_output(item) for item in parsed)) == parsed


# Comparison


@settings(max_examples=50)
@given(pairs=output_lists(min_size=1), data=st.data())
def test_output_order_does_not_matter(pairs, data):
    parsed = [expected for written, expected in pairs]
    permuted = data.draw(st.permutations(parsed))
    assert same_outputs(parsed, permuted)
    assert same_outputs(permuted, parsed)
    current = {"outputs": parsed, "filters": []}
    assert _logging.changes(current, {"outputs": permuted}) == {}
    assert _logging.changes(current, {"outputs": permuted, "filters": []}) == {}


@settings(max_examples=50)
@given(pairs=output_lists(min_size=1), data=st.data())
def test_a_different_output_is_a_change(pairs, data):
    parsed = [expected for written, expected in pairs]
    index = data.draw(st.integers(0, len(parsed) - 1))
    level, kind, extra = parsed[index]
    other = [*parsed[:index], (level % 4 + 1, kind, extra), *parsed[index + 1 :]]
    assert not same_outputs(parsed, other)
    assert _logging.changes({"outputs": parsed, "filters": []}, {"outputs": other}) == {"outputs": other}
    assert not same_outputs(parsed, parsed[:index] + parsed[index + 1 :])


@settings(max_examples=50)
@given(data=st.data())
def test_filter_order_matters(data):
    pairs = data.draw(st.lists(filters(plain_matches()), min_size=2, max_size=6, unique_by=lambda pair: pair[1]))
    parsed = [expected for written, expected in pairs]
    permuted = data.draw(st.permutations(parsed))
    assume(permuted != parsed)
    current = {"outputs": [(3, "stderr", None)], "filters": parsed}
    assert _logging.changes(current, {"filters": permuted}) == {"filters": permuted}
    assert _logging.changes(current, {"filters": parsed}) == {}
    assert _logging.changes(current, {"filters": permuted, "outputs": [(3, "stderr", None)]}) == {"filters": permuted}


# Rejections

ODD_TOKENS = ("", "0", "1", "3", "5", "03", "+", "-", ":", "::", " ", "\t", "\n", "\x00", "a", "*", "/", "..", "é")
ODD_WORDS = ("stderr", "journald", "syslog", "file", "printer", "/var/log/x.log", "relative/x.log")
ODD_TEXT = st.lists(st.sampled_from((*ODD_TOKENS, *ODD_WORDS)), max_size=6).map("".join)
NON_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
ANY_ITEM = st.one_of(st.text(), ODD_TEXT, NON_STRINGS)


def rejection(call, *args) -> str:
    with pytest.raises(LibvirtAdminError) as caught:
        call(*args)
    assert caught.value.code == ERR_INVALID_ARG
    return caught.value.message


@pytest.mark.parametrize(("parse", "kind"), [(parse_filter, "filters"), (parse_output, "outputs")])
@given(item=ANY_ITEM, index=st.integers(0, 10**6))
def test_a_rejected_item_is_named_with_its_index(parse, kind, item, index):
    try:
        parse(item, index)
    except LibvirtAdminError as error:
        assert error.code == ERR_INVALID_ARG
        assert error.message.startswith(f"{kind}[{index}] {item!r} is not a valid log {kind[:-1]}: ")
    else:
        assert isinstance(item, str)


@pytest.mark.parametrize(
    ("parse_list", "parse", "valid"),
    [(parse_filters, parse_filter, filters(plain_matches())), (parse_outputs, parse_output, outputs())],
    ids=["filters", "outputs"],
)
@given(data=st.data())
def test_a_rejected_item_in_a_list_is_named_with_its_position(parse_list, parse, valid, data):
    bad = data.draw(ANY_ITEM)
    try:
        parse(bad)
    except LibvirtAdminError:
        pass
    else:
        assume(False)
    items = [written for written, expected in data.draw(st.lists(valid, max_size=4, unique_by=lambda pair: pair[1]))]
    index = data.draw(st.integers(0, len(items)))
    items.insert(index, bad)
    message = rejection(parse_list, items)
    kind = "filters" if parse_list is parse_filters else "outputs"
    assert f"{kind}[{index}] {bad!r} is not a valid" in message


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("0:qemu", "it must start with a level, 1 (debug), 2 (info), 3 (warning) or 4 (error), then ':'; got '0'"),
        ("5:qemu", "got '5'"),
        ("+0:qemu", "got '+0'"),
        ("1:", "the match after the level is empty"),
        ("1:+", "the match after the level is empty"),
        (":foo", "got ''"),
        ("foo", "got 'foo'"),
        ("1:qemu:x", "the form is LEVEL:MATCH, with exactly one ':'"),
        ("1:qemu 3:rpc", "it must be one item, with no spaces"),
        ("1:a\tb", "it must be one item, with no spaces"),
        ("", "it must be one item, with no spaces"),
        (3, "it must be a string like 1:qemu"),
        (None, "it must be a string like 1:qemu"),
        ({"level": 1}, "it must be a string like 1:qemu"),
        (b"1:qemu", "it must be a string like 1:qemu"),
    ],
)
def test_rejected_filters(item, why):
    message = rejection(parse_filters, ["1:qemu", item])
    assert message.startswith(f"filters[1] {item!r} is not a valid log filter: ")
    assert why in message


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("0:stderr", "it must start with a level"),
        ("5:stderr", "got '5'"),
        ("1:file:relative/path", "the file path must be absolute (start with /)"),
        ("1:syslog", "syslog needs one field after it, with no ':': LEVEL:syslog:IDENT"),
        ("1:syslog:", "syslog needs one field after it"),
        ("1:syslog:a:b", "syslog needs one field after it"),
        ("1:file", "file needs one field after it, with no ':': LEVEL:file:PATH"),
        ("1:printer", "the output type must be stderr, journald, syslog:IDENT or file:PATH; got 'printer'"),
        ("1:Stderr", "got 'Stderr'"),
        ("1", "got nothing"),
        ("1:stderr:x", "stderr takes nothing after it: LEVEL:stderr"),
        ("1:journald:x", "journald takes nothing after it"),
        (3, "it must be a string like 3:stderr"),
        (["3:stderr"], "it must be a string like 3:stderr"),
    ],
)
def test_rejected_outputs(item, why):
    message = rejection(parse_outputs, ["3:journald", item])
    assert message.startswith(f"outputs[1] {item!r} is not a valid log output: ")
    assert why in message


@pytest.mark.parametrize(
    "items",
    [
        ["1:stderr", "3:stderr"],
        ["1:file:/var/log/libvirt/a.log", "2:file:/var/log/libvirt/./x/../a.log"],
        ["1:syslog:a", "1:syslog:a"],
    ],
)
def test_one_output_per_destination(items):
    message = rejection(parse_outputs, ["3:journald", *items])
    assert message.startswith(f"outputs[2] {items[1]!r} is not a valid log output: ")
    assert "it logs to the same destination as outputs[1]" in message


def test_different_syslog_idents_are_different_destinations():
    # the daemon keeps both (seen with libvirt 9.0)
    assert parse_outputs(["1:syslog:a", "2:syslog:b"]) == [(1, "syslog", "a"), (2, "syslog", "b")]


@pytest.mark.parametrize(
    ("item", "parsed"),
    [
        ("+3:util.object", (3, "util.object")),
        ("03:qemu", (3, "qemu")),
        ("+0004:*", (4, "*")),
        ("1:+qemu", (1, "qemu")),
        ("2:**", (2, "**")),
    ],
)
def test_accepted_filters(item, parsed):
    assert parse_filter(item) == parsed


@pytest.mark.parametrize(
    ("item", "parsed"),
    [
        ("1:file:/tmp/../var/log/libvirt/x.log", (1, "file", "/var/log/libvirt/x.log")),
        ("1:file://var/log/libvirt/y.log", (1, "file", "//var/log/libvirt/y.log")),
        ("1:file:///var/log/libvirt/z.log", (1, "file", "/var/log/libvirt/z.log")),
        ("1:file://..//var/log/libvirt/d.log", (1, "file", "//var/log/libvirt/d.log")),
        ("1:file:/var/log/libvirt/c.log/", (1, "file", "/var/log/libvirt/c.log")),
        ("+02:syslog:libvirtd", (2, "syslog", "libvirtd")),
        ("4:journald", (4, "journald", None)),
    ],
)
def test_accepted_outputs(item, parsed):
    assert parse_output(item) == parsed


# Known bugs, each shown by the smallest example (strict: these fail until the bug is fixed).


def test_a_match_starting_with_plus_renders_as_written():
    assert parse_filter("1:++a") == (1, "+a")
    assert parse_filter(render_filter((1, "+a"))) == (1, "+a")


@pytest.mark.parametrize(
    ("parse", "item"),
    [(parse_filter, "1:a\x00b"), (parse_output, "1:syslog:a\x00b"), (parse_output, "1:file:/var/log/a\x00b")],
)
def test_a_nul_character_is_rejected(parse, item):
    assert f"{item!r} is not a valid" in rejection(parse, item)


@pytest.mark.parametrize(("parse", "item"), [(parse_filter, "1:\ud800"), (parse_output, "1:syslog:\udcff")])
def test_a_lone_surrogate_is_rejected(parse, item):
    assert f"{item!r} is not a valid" in rejection(parse, item)


@pytest.mark.parametrize(
    ("read", "text", "parsed"),
    [
        (read_filters, "1:*a\tb* 2:*c* ", [(1, "a\tb"), (2, "c")]),
        (read_filters, "1:*a\nb* ", [(1, "a\nb")]),
        (read_outputs, "1:syslog:a\tb 3:stderr", [(1, "syslog", "a\tb"), (3, "stderr", None)]),
    ],
)
def test_reading_splits_where_the_daemon_does(read, text, parsed):
    # what the daemon reports after `virt-admin daemon-log-filters $'1:a\tb 2:c'` and the like
    assert read(text) == parsed


# apply(): filters first, then outputs; a failure of the second puts the first back.


def daemon_filters(text: str) -> str:
    """Filters as the daemon stores and reports them: level as a number, a leading '+' of the match
    dropped, the match wrapped in '*', each followed by a space."""
    stored = []
    for item in text.split(" "):
        if item:
            level, match = item.split(":", 1)
            stored.append(f"{int(level)}:*{match[1:] if match.startswith('+') else match}* ")
    return "".join(stored)


class FakeConn:
    """Just the four logging calls of AdminConnection; set_* raise the queued errors in turn."""

    def __init__(self, outputs: str = "3:stderr", filters: str = "", failures: dict | None = None) -> None:
        self.state = {"outputs": outputs, "filters": filters}
        self.failures = failures or {}
        self.calls: list = []

    def _set(self, part: str, text: str) -> None:
        self.calls.append((part, text))
        queued = self.failures.get(part, [])
        error = queued.pop(0) if queued else None
        if error is not None:
            raise error
        self.state[part] = daemon_filters(text) if part == "filters" else text

    def set_logging_filters(self, text: str) -> None:
        self._set("filters", text)

    def set_logging_outputs(self, text: str) -> None:
        self._set("outputs", text)

    def get_logging_filters(self) -> str:
        return self.state["filters"]

    def get_logging_outputs(self) -> str:
        return self.state["outputs"]


OPEN_FAILED = LibvirtAdminError("failed to open /nonexistent/x.log: No such file or directory", 38)
CURRENT = {"outputs": [(3, "stderr", None)], "filters": [(2, "rpc")]}
CHANGED = {"filters": [(1, "qemu"), (3, "util")], "outputs": [(1, "file", "/nonexistent/x.log")]}


def test_apply_sends_filters_then_outputs_and_reads_back():
    conn = FakeConn(filters="2:*rpc* ")
    _logging.apply(conn, CURRENT, {"filters": [(1, "qemu"), (3, "util")], "outputs": [(1, "journald", None)]})
    after = _logstrings.read(conn)
    assert conn.calls == [("filters", "1:qemu 3:util"), ("outputs", "1:journald")]
    assert after == {"outputs": [(1, "journald", None)], "filters": [(1, "qemu"), (3, "util")]}


def test_outputs_failing_put_the_filters_back():
    conn = FakeConn(filters="2:*rpc* ", failures={"outputs": [OPEN_FAILED]})
    with pytest.raises(LibvirtAdminError) as caught:
        _logging.apply(conn, CURRENT, CHANGED)
    assert conn.calls == [("filters", "1:qemu 3:util"), ("outputs", "1:file:/nonexistent/x.log"), ("filters", "2:rpc")]
    assert caught.value.code == 38
    assert caught.value.message == (
        "setting the outputs failed: failed to open /nonexistent/x.log: No such file or directory; the filters had "
        "been changed already and were put back, so nothing was changed"
    )
    assert _logstrings.read(conn) == CURRENT
    assert caught.value.__cause__ is OPEN_FAILED


def test_putting_back_failing_too_says_so():
    restore_failed = LibvirtAdminError("cannot send data: Broken pipe", 39)
    conn = FakeConn(filters="2:*rpc* ", failures={"outputs": [OPEN_FAILED], "filters": [None, restore_failed]})
    with pytest.raises(LibvirtAdminError) as caught:
        _logging.apply(conn, CURRENT, CHANGED)
    assert len(conn.calls) == 3
    assert caught.value.code == 38
    assert caught.value.message == (
        "setting the outputs failed: failed to open /nonexistent/x.log: No such file or directory; the filters had "
        "been changed already, and putting them back failed too: cannot send data: Broken pipe"
    )
    assert "put back, so nothing was changed" not in caught.value.message


def test_the_first_part_failing_changes_nothing():
    bad_filter = LibvirtAdminError("invalid argument: Invalid match string '+'", ERR_INVALID_ARG)
    conn = FakeConn(filters="2:*rpc* ", failures={"filters": [bad_filter]})
    with pytest.raises(LibvirtAdminError) as caught:
        _logging.apply(conn, CURRENT, CHANGED)
    assert conn.calls == [("filters", "1:qemu 3:util")]
    assert caught.value.message == (
        "setting the filters failed: invalid argument: Invalid match string '+' (nothing was changed)"
    )


def test_only_outputs_failing_changes_nothing():
    conn = FakeConn(failures={"outputs": [OPEN_FAILED]})
    with pytest.raises(LibvirtAdminError) as caught:
        _logging.apply(conn, CURRENT, {"outputs": CHANGED["outputs"]})
    assert conn.calls == [("outputs", "1:file:/nonexistent/x.log")]
    assert caught.value.message.endswith("(nothing was changed)")


def test_putting_back_restores_a_match_starting_with_plus():
    conn = FakeConn(filters="1:*+a* ", failures={"outputs": [OPEN_FAILED]})
    current = _logstrings.read(conn)
    assert current["filters"] == [(1, "+a")]
    with pytest.raises(LibvirtAdminError):
        _logging.apply(conn, current, CHANGED)
    assert _logstrings.read(conn) == current
