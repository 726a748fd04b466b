"""Log outputs and filters against one real sandboxed libvirtd per test, through the
collection's admin connection: whatever the validator accepts, the daemon accepts, and
the daemon reads back what the normaliser predicted; whatever the validator rejects is
named, with its position, in the message.

libvirt-python must not be imported here (it crashes next to the admin binding)."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    LibvirtAdminError,
    open_connection,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._logparse import (
    parse_filters,
    parse_outputs,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._logstrings import (
    read_filters,
    read_outputs,
    render_filter,
    render_output,
)
from tests.harness.daemons import Daemon
from tests.unit.plugins.module_utils.test_logstrings import (
    NAMES,
    TEXT_CHARACTERS,
    filters,
    levels,
    noisy_paths,
    plain_matches,
    plus_matches,
)

SAMPLE = settings(max_examples=40, deadline=None)
# A sample that is expected to fail (a known bug): stop at the first failing example, do not shrink it.
SAMPLE_EXPECTED_TO_FAIL = settings(SAMPLE, phases=[Phase.explicit, Phase.reuse, Phase.generate])
RESET_OUTPUTS = "3:stderr"  # a sandboxed daemon in the foreground logs to stderr
LOG_DIR = ("var", "log", "libvirt")
SUBDIRS = ((), ("sub",), ("sub", "deep"))  # created in the daemon's /var/log/libvirt before the examples


def reset(conn) -> None:
    conn.set_logging_outputs(RESET_OUTPUTS)
    conn.set_logging_filters("")


def sandboxed_daemon() -> Daemon:
    daemon = Daemon()
    for subdir in SUBDIRS[1:]:
        (daemon.root / "log").joinpath(*subdir).mkdir(parents=True, exist_ok=True)
    return daemon


@st.composite
def log_files(draw) -> tuple:
    """(written, normalised) of a file in the daemon's /var/log/libvirt or a folder there: the
    '..' of the noise only undo a name of the noise, or climb above /, so the file never leaves it."""
    segments = [*LOG_DIR, *draw(st.sampled_from(SUBDIRS)), f"{draw(NAMES)}.log"]
    written = draw(noisy_paths(segments))
    prefix = "//" if written.startswith("//") and not written.startswith("///") else "/"
    return written, prefix + "/".join(segments)


@st.composite
def daemon_outputs(draw) -> tuple:
    """(written, parsed) of a valid output the sandboxed daemon can open."""
    written_level, level = draw(levels())
    kind = draw(st.sampled_from(["stderr", "journald", "syslog", "file", "file"]))
    if kind in ("stderr", "journald"):
        return f"{written_level}:{kind}", (level, kind, None)
    if kind == "syslog":
        ident = draw(st.text(TEXT_CHARACTERS, min_size=1, max_size=12))
        return f"{written_level}:syslog:{ident}", (level, "syslog", ident)
    written_path, path = draw(log_files())
    return f"{written_level}:file:{written_path}", (level, "file", path)


def sent_and_read_back(conn, part: str, text: str) -> list:
    if part == "filters":
        conn.set_logging_filters(text)
        return read_filters(conn.get_logging_filters())
    conn.set_logging_outputs(text)
    return read_outputs(conn.get_logging_outputs())


@pytest.mark.parametrize(
    ("matches", "sample"),
    [
        pytest.param(plain_matches(), SAMPLE, id="plain"),
        pytest.param(
            plus_matches(),
            SAMPLE_EXPECTED_TO_FAIL,
            id="leading-plus",
        ),
    ],
)
def test_the_daemon_takes_every_valid_filter_list_as_predicted(matches, sample):
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:

        @sample
        @given(pairs=st.lists(filters(matches), max_size=6))
        def check(pairs):
            written = [item for item, expected in pairs]
            predicted = parse_filters(written)
            assert predicted == [expected for item, expected in pairs]
            # As the user wrote them (the daemon takes them too), then as the module sends them.
            for text in (" ".join(written), " ".join(render_filter(item) for item in predicted)):
                reset(conn)
                note(f"sent {text!r}, the daemon reads back {conn.get_logging_filters()!r}")
                assert sent_and_read_back(conn, "filters", text) == predicted
                assert read_outputs(conn.get_logging_outputs()) == [(3, "stderr", None)]

        check()


def test_the_daemon_takes_every_valid_output_list_as_predicted():
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:

        @SAMPLE
        @given(pairs=st.lists(daemon_outputs(), min_size=1, max_size=4, unique_by=lambda pair: pair[1][1:]))
        def check(pairs):
            written = [item for item, expected in pairs]
            predicted = parse_outputs(written)
            assert predicted == [expected for item, expected in pairs]
            for text in (" ".join(written), " ".join(render_output(item) for item in predicted)):
                reset(conn)
                assert sent_and_read_back(conn, "outputs", text) == predicted, conn.get_logging_outputs()
                assert conn.get_logging_filters() == ""
            for path in (extra for level, kind, extra in predicted if kind == "file"):
                # the daemon opened the file the normaliser named
                relative = path.lstrip("/").split("/")[len(LOG_DIR) :]
                assert (daemon.root / "log").joinpath(*relative).is_file(), path

        check()


@st.composite
def items_with_a_control_character(draw, controls: st.SearchStrategy) -> tuple:
    """(part, item) of a filter or output with a control character in its match, ident or file name."""
    text = draw(st.just("") | NAMES)
    at = draw(st.integers(0, len(text)))
    text = f"{text[:at]}{draw(controls)}{text[at:]}"
    level = draw(levels())[0]
    return draw(
        st.sampled_from(
            [
                ("filters", f"{level}:m{text}"),
                ("outputs", f"{level}:syslog:{text}"),
                ("outputs", f"{level}:file:/var/log/libvirt/{text}.log"),
            ]
        )
    )


@pytest.mark.parametrize(
    ("controls", "sample"),
    [
        pytest.param(st.characters(categories=["Cc"], exclude_characters="\x00"), SAMPLE, id="control"),
        pytest.param(st.just("\x00"), SAMPLE_EXPECTED_TO_FAIL, id="nul"),
    ],
)
def test_control_characters_are_rejected_or_reach_the_daemon_intact(controls, sample):
    """The validator takes control characters other than whitespace (so does the daemon), and must refuse
    what C would cut short: the rest of the string, the items after it too, would be lost."""
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:

        @sample
        @given(pair=items_with_a_control_character(controls))
        def check(pair):
            part, item = pair
            parse, render = (parse_filters, render_filter) if part == "filters" else (parse_outputs, render_output)
            items = [item, "2:rpc" if part == "filters" else "3:stderr"]
            try:
                predicted = parse(items)
            except LibvirtAdminError as error:
                assert error.message.startswith(f"{part}[0] {item!r} is not a valid")
                return
            reset(conn)
            assert sent_and_read_back(conn, part, " ".join(render(parsed) for parsed in predicted)) == predicted

        check()


@pytest.mark.parametrize(
    ("part", "text", "parsed"),
    [
        ("filters", "1:a\tb 2:c", [(1, "a\tb"), (2, "c")]),
        ("filters", "3:a\nb", [(3, "a\nb")]),
        ("outputs", "1:syslog:a\tb 3:stderr", [(1, "syslog", "a\tb"), (3, "stderr", None)]),
    ],
)
def test_what_others_set_is_read(part, text, parsed):
    """virt-admin or libvirtd.conf may set items our validator refuses; reading them must work."""
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:
        assert sent_and_read_back(conn, part, text) == parsed


# Items the validator rejects, each as (item, True when the daemon rejects it too or None when only
# our validator is stricter, whether it is safe to send to the daemon at all).
BAD_LEVELS = ["0", "00", "+0", "5", "9", "10", "-1", "x", "", "+", "1.5", "\u0663"]
NAMES_WITHOUT_COLON = st.text(TEXT_CHARACTERS, min_size=1, max_size=8)
NON_STRINGS = st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=4), st.just(["1:a"]))
VALID_OUTPUTS = ["3:journald", "2:syslog:lva", "1:file:/var/log/libvirt/a.log"]
# Another output to the destination of one of VALID_OUTPUTS: rejected after it, the daemon keeps the last.
SAME_DESTINATION = {
    "3:journald": "1:journald",
    "2:syslog:lva": "+04:syslog:lva",
    "1:file:/var/log/libvirt/a.log": "4:file:/var/log/libvirt/sub/../a.log",
}


@st.composite
def bad_filters(draw) -> tuple:
    level = draw(levels())[0]
    match = draw(plain_matches())
    space = draw(st.sampled_from([" ", "\t", "\n"]))
    return draw(
        st.sampled_from(
            [
                (f"{draw(st.sampled_from(BAD_LEVELS))}:{match}", True, True),
                (f"{level}:", True, True),
                (f"{level}:+", True, True),
                (f":{match}", True, True),
                (match, True, True),
                (f"{level}:{match}:{draw(NAMES_WITHOUT_COLON)}", None, True),  # the daemon ignores a third field
                (f"{level}:{match}{space}{match}", None, True),
                ("", None, True),
                (draw(NON_STRINGS), None, False),
            ]
        )
    )


@st.composite
def bad_outputs(draw) -> tuple:
    level = draw(levels())[0]
    name = draw(NAMES_WITHOUT_COLON)
    log_file = f"/var/log/libvirt/{draw(NAMES)}.log"
    space = draw(st.sampled_from([" ", "\t", "\n"]))
    unknown = draw(
        (st.sampled_from(["printer", "Stderr", "", "file2", "syslog "]) | NAMES_WITHOUT_COLON).filter(
            lambda kind: kind not in ("stderr", "journald", "syslog", "file")
        )
    )
    return draw(
        st.sampled_from(
            [
                (f"{draw(st.sampled_from(BAD_LEVELS))}:stderr", True, True),
                (f"{level}:{unknown}", True, True),
                (f"{level}:stderr:{name}", True, True),
                (f"{level}:journald:", True, True),
                (f"{level}:syslog", True, True),
                (f"{level}:file", True, True),
                (f"{level}:syslog:{name}:{name}", True, True),
                (f"{level}:file:{log_file}:{name}", True, True),
                (f"{level}:syslog:", None, True),  # the daemon takes an empty ident
                (f"{level}:file:", None, False),  # the daemon would open its working directory
                (f"{level}:file:{name.replace('/', '')}", None, False),  # relative: never sent
                (f"{level}:syslog:{name}{space}{name}", None, True),
                (f"{level}:file:{log_file}{space}x", None, True),
                (draw(NON_STRINGS), None, False),
            ]
        )
    )


def test_rejected_filters_are_named_and_the_daemon_keeps_its_settings():
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:

        @SAMPLE
        @given(bad=bad_filters(), valid=st.lists(filters(plain_matches()), max_size=3), data=st.data())
        def check(bad, valid, data):
            index = data.draw(st.integers(0, len(valid)))
            written = [text for text, expected in valid]
            rejected_as_named(conn, "filters", [*written[:index], bad[0], *written[index:]], index, bad)

        check()


def test_rejected_outputs_are_named_and_the_daemon_keeps_its_settings():
    with sandboxed_daemon() as daemon, open_connection(daemon.uri) as conn:

        @SAMPLE
        @given(
            bad=bad_outputs() | st.sampled_from(VALID_OUTPUTS).map(lambda item: (item, None, True)),
            valid=st.lists(st.sampled_from(VALID_OUTPUTS), unique=True, max_size=3),
            data=st.data(),
        )
        def check(bad, valid, data):
            item = bad[0]
            if item in VALID_OUTPUTS:  # another output to the destination of a valid one, after it
                bad = (SAME_DESTINATION[item], None, True)
                valid = valid if item in valid else [*valid, item]
                index = data.draw(st.integers(valid.index(item) + 1, len(valid)))
            else:
                index = data.draw(st.integers(0, len(valid)))
            rejected_as_named(conn, "outputs", [*valid[:index], bad[0], *valid[index:]], index, bad)

        check()


def rejected_as_named(conn, part: str, items: list, index: int, bad: tuple) -> None:
    """The validator names the item and its position; the daemon, when it refuses the items
    too, keeps the settings it had."""
    item, daemon_rejects, sendable = bad
    with pytest.raises(LibvirtAdminError) as caught:
        (parse_filters if part == "filters" else parse_outputs)(items)
    assert caught.value.code == ERR_INVALID_ARG
    assert caught.value.message.startswith(f"{part}[{index}] {item!r} is not a valid log {part[:-1]}: ")
    if not sendable:
        return
    reset(conn)
    conn.set_logging_filters("2:rpc")
    before = conn.get_logging_outputs(), conn.get_logging_filters()
    try:
        (conn.set_logging_filters if part == "filters" else conn.set_logging_outputs)(" ".join(items))
    except LibvirtAdminError as error:
        note(f"the daemon refuses {items!r} too: {error.message}")
        assert (conn.get_logging_outputs(), conn.get_logging_filters()) == before
    else:
        note(f"the daemon takes {items!r}: our validator is stricter")
        assert daemon_rejects is None, f"the daemon took {items!r}"
