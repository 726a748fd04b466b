"""Config files without a daemon: which key persists which setting (_settings, _persist), the
parser against libvirt's virconf rules and the minimal edit (_confsyntax, on generated files and
on the config files Debian ships), and the atomic writer (_conffile).
tests/integration/test_config_file.py has libvirt itself read the files this writes."""

from __future__ import annotations

import difflib
import errno
import glob
import io
import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _conffile, _confsyntax, _settings
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_CONF_SYNTAX,
    ERR_INVALID_ARG,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._conffile import write_atomically
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._confsyntax import (
    config_value,
    read_values,
    render_value,
    set_values,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._persist import (
    config_keys,
    config_values,
    daemon_of_uri,
    default_config_file,
)

# --- the config files a distribution ships -------------------------------------------------------

# `make setup` downloads the package into .build/debs; apt's cache is looked at too.
SHIPPED_PACKAGES = (
    str(Path(__file__).resolve().parents[4] / ".build" / "debs" / "libvirt-daemon-system_*.deb"),
    "/var/cache/apt/archives/libvirt-daemon-system_*.deb",
)


def packaged_config(name: str) -> str | None:
    """/etc/libvirt/<name> byte for byte as Debian ships it, from a libvirt-daemon-system
    package in apt's cache (cd /var/cache/apt/archives && apt-get download libvirt-daemon-system)."""
    packages = [package for pattern in SHIPPED_PACKAGES for package in sorted(glob.glob(pattern), reverse=True)]
    for package in packages:
        unpacked = subprocess.run(["dpkg-deb", "--fsys-tarfile", package], capture_output=True, check=False)
        if unpacked.returncode != 0:
            continue
        with tarfile.open(fileobj=io.BytesIO(unpacked.stdout)) as archive:
            try:
                member = archive.extractfile(f"./etc/libvirt/{name}")
            except KeyError:
                continue
            if member is not None:
                return member.read().decode()
    return None


def shipped_config(name: str) -> str | None:
    """The installed /etc/libvirt/<name> (libvirt-daemon-system puts it there, and an
    administrator may have edited it since), else the packaged one; None when neither is here."""
    installed = Path("/etc/libvirt") / name
    return installed.read_text() if installed.is_file() else packaged_config(name)


MISSING = (
    "no shipped {name} on this machine: run `make setup` (it downloads libvirt-daemon-system into .build/debs), "
    "or install libvirt-daemon-system"
)


def shipped_or_fail(name: str, packaged: bool = False) -> str:
    text = packaged_config(name) if packaged else shipped_config(name)
    if text is None:
        pytest.fail(MISSING.format(name=name))
    return text


# A value for every key this collection persists, in the form a module hands them over.
LIBVIRTD_VALUES = {
    "min_workers": 3,
    "max_workers": 17,
    "prio_workers": 4,
    "max_clients": 123,
    "max_anonymous_clients": 7,
    "admin_min_workers": 2,
    "admin_max_workers": 6,
    "admin_max_clients": 9,
    "log_filters": ["3:rpc", "4:object", "1:util.json"],
    "log_outputs": ["3:stderr", "4:file:/var/log/libvirt/config-test.log"],
}
SHARED_LIMIT_VALUES = {
    "max_clients": 77,
    "admin_max_clients": 8,
    "log_filters": ["2:logging", "4:object"],
    "log_outputs": ["3:stderr"],
}


def line_changes(before: str, after: str) -> list:
    """difflib's non-equal opcodes over lines: (tag, i1, i2, j1, j2)."""
    matcher = difflib.SequenceMatcher(None, before.split("\n"), after.split("\n"), autojunk=False)
    return [opcode for opcode in matcher.get_opcodes() if opcode[0] != "equal"]


# --- which key persists which setting ---------------------------------------------------------

MAIN_KEYS = {
    "threadpool": {"min_workers": "min_workers", "max_workers": "max_workers", "prio_workers": "prio_workers"},
    "clients": {"max_clients": "max_clients", "max_unauth_clients": "max_anonymous_clients"},
}
MODULAR_DAEMONS = ["libvirtd", "virtqemud", "virtproxyd", "virtnetworkd", "virtstoraged", "virtxend"]


@pytest.mark.parametrize("daemon", MODULAR_DAEMONS)
@pytest.mark.parametrize("server", [None, "daemon's own name", "some-other-server"])
def test_the_main_server_uses_the_keys_libvirtd_conf_documents(daemon, server):
    server = daemon if server == "daemon's own name" else server
    for kind, keys in MAIN_KEYS.items():
        assert config_keys(daemon, server, kind) == keys
        assert config_keys(daemon, server, kind, list(keys)) == keys


@pytest.mark.parametrize("daemon", MODULAR_DAEMONS)
def test_the_admin_server_has_admin_keys_and_no_prio_or_unauth_key(daemon):
    assert config_keys(daemon, "admin", "threadpool") == {
        "min_workers": "admin_min_workers",
        "max_workers": "admin_max_workers",
    }
    assert config_keys(daemon, "admin", "clients") == {"max_clients": "admin_max_clients"}
    assert config_keys(daemon, "admin", "threadpool", ["max_workers"]) == {"max_workers": "admin_max_workers"}
    for kind, setting, because in (
        ("threadpool", "prio_workers", "runs without priority workers"),
        ("clients", "max_unauth_clients", "takes no unauthenticated clients"),
    ):
        with pytest.raises(LibvirtAdminError) as raised:
            config_keys(daemon, "admin", kind, ["max_workers" if kind == "threadpool" else "max_clients", setting])
        assert raised.value.code == ERR_INVALID_ARG
        message = raised.value.message
        assert message.startswith(f"{setting} of server 'admin' of {daemon} cannot be persisted in its config file")
        assert because in message
        assert f"leave {setting} out of what you persist" in message


@pytest.mark.parametrize("daemon", _settings.SHARED_LIMIT_DAEMONS)
def test_virtlogd_and_virtlockd_have_no_worker_keys_and_one_key_for_both_client_limits(daemon):
    for server in (None, daemon, "admin"):
        with pytest.raises(LibvirtAdminError, match="without worker threads, so its config file has no worker keys"):
            config_keys(daemon, server, "threadpool")
        with pytest.raises(LibvirtAdminError, match=r"^min_workers of .*leave the thread pool settings out"):
            config_keys(daemon, server, "threadpool", ["min_workers"])
    assert config_keys(daemon, None, "clients") == {"max_clients": "max_clients"}
    assert config_keys(daemon, daemon, "clients", ["max_clients"]) == {"max_clients": "max_clients"}
    assert config_keys(daemon, "admin", "clients") == {"max_clients": "admin_max_clients"}
    for server, key in ((daemon, "max_clients"), ("admin", "admin_max_clients")):
        with pytest.raises(LibvirtAdminError) as raised:
            config_keys(daemon, server, "clients", ["max_clients", "max_unauth_clients"])
        assert raised.value.code == ERR_INVALID_ARG
        assert raised.value.message.startswith(f"max_unauth_clients of server '{server}' of {daemon} cannot be")
        assert f"{key} sets both max_clients and max_unauth_clients" in raised.value.message
        assert "persist max_clients only" in raised.value.message


@pytest.mark.parametrize("daemon", [*MODULAR_DAEMONS, *_settings.SHARED_LIMIT_DAEMONS])
@pytest.mark.parametrize("server", [None, "admin", "anything"])
def test_logging_is_daemon_wide(daemon, server):
    keys = {"outputs": "log_outputs", "filters": "log_filters"}
    assert config_keys(daemon, server, "logging") == keys
    assert config_keys(daemon, server, "logging", ["filters"]) == {"filters": "log_filters"}


def test_config_values_renames_settings_to_keys():
    assert config_values("virtqemud", None, "threadpool", {"max_workers": 40, "min_workers": 8}) == {
        "max_workers": 40,
        "min_workers": 8,
    }
    assert config_values("libvirtd", "admin", "clients", {"max_clients": 9}) == {"admin_max_clients": 9}
    assert config_values("virtlogd", None, "logging", {"filters": ["1:a"]}) == {"log_filters": ["1:a"]}
    with pytest.raises(LibvirtAdminError, match="prio_workers of server 'admin' of libvirtd"):
        config_values("libvirtd", "admin", "threadpool", {"prio_workers": 2})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("libvirtd", None, "tls"), "'tls' is not a kind of setting; use one of clients, logging, threadpool"),
        (("libvirtd", None, "threadpool", ["max_clients"]), "'max_clients' is not a threadpool setting"),
        (("libvirtd", None, "logging", ["log_outputs"]), "'log_outputs' is not a logging setting"),
        (("../etc/passwd", None, "threadpool"), "is not the name of a libvirt daemon"),
        (("LibvirtD", None, "threadpool"), "is not the name of a libvirt daemon"),
        ((None, None, "threadpool"), "is not the name of a libvirt daemon"),
    ],
)
def test_config_keys_refuses_what_it_does_not_know(args, message):
    with pytest.raises(LibvirtAdminError) as raised:
        config_keys(*args)
    assert message in raised.value.message
    assert raised.value.code == ERR_INVALID_ARG


def test_default_config_file():
    assert default_config_file("libvirtd") == "/etc/libvirt/libvirtd.conf"
    assert default_config_file("virtqemud") == "/etc/libvirt/virtqemud.conf"
    assert default_config_file("virtlogd") == "/etc/libvirt/virtlogd.conf"
    for bad in ("", "../shadow", "a/b", "virt qemud"):
        with pytest.raises(LibvirtAdminError, match="is not the name of a libvirt daemon"):
            default_config_file(bad)


@pytest.mark.parametrize(
    ("uri", "daemon"),
    [
        (None, "libvirtd"),
        ("", "libvirtd"),
        ("libvirtd:///system", "libvirtd"),
        ("libvirtd:///session", "libvirtd"),
        ("virtqemud:///system?socket=/run/libvirt/virtqemud-admin-sock", "virtqemud"),
        ("virtproxyd:///system", "virtproxyd"),
        ("virtlogd:///system?socket=/tmp/lva-x/run/virtlogd-admin-sock", "virtlogd"),
        ("libvirtd+unix:///system", "libvirtd"),
    ],
)
def test_daemon_of_uri(uri, daemon):
    assert daemon_of_uri(uri) == daemon


@pytest.mark.parametrize("uri", ["/run/libvirt/libvirt-admin-sock", "libvirtd", "Libvirtd:///system", ":///x"])
def test_daemon_of_uri_refuses_what_is_not_an_admin_uri(uri):
    with pytest.raises(LibvirtAdminError, match="cannot tell the daemon from the admin URI"):
        daemon_of_uri(uri)


# --- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("", {}),
        ("# only a comment", {}),
        ("#\n#\n", {}),
        ("min_workers = 5\n", {"min_workers": 5}),
        ("min_workers=5", {"min_workers": 5}),
        ("\t  max_workers\t=\t+20   # the default\n", {"max_workers": 20}),
        ("offset = -3\n", {"offset": -3}),
        ('log_filters="1:qemu 1:libvirt 4:object"\n', {"log_filters": "1:qemu 1:libvirt 4:object"}),
        ("log_outputs = '3:syslog:libvirtd'\n", {"log_outputs": "3:syslog:libvirtd"}),
        ('a = \'say "hi"\'\nb = "it\'s"\n', {"a": 'say "hi"', "b": "it's"}),
        # no escapes in virconf: a backslash is a backslash, and the string runs to its quote
        ('path = "C:\\\\dir\\n"\n', {"path": "C:\\\\dir\\n"}),
        ('text = """one\nand "two" and \'three\'"""\n', {"text": "one\nand \"two\" and 'three'"}),
        ("empty = ''\nalso = \"\"\n", {"empty": "", "also": ""}),
        ('l = [ "a", "b" ]\n', {"l": ["a", "b"]}),
        ("l = []\nm = [\n]\n", {"l": [], "m": []}),
        ("l = [\n  \"a\",\n\n  'b' ,\n  3,\n]\n", {"l": ["a", "b", 3]}),
        ("nested = [[1, [2]], []]\n", {"nested": [[1, [2]], []]}),
        ("a = 1; b = 2;c=3\n", {"a": 1, "b": 2, "c": 3}),
        ("a = 1;\n", {"a": 1}),
        ("\n\n  \n# leading blank lines are fine before a statement\nx_1 = 1\n\n\n  ", {"x_1": 1}),
        ("a = 1\r\nb = 'x'\r\n", {"a": 1, "b": "x"}),
        ("a = 1\rb = 2\r", {"a": 1, "b": 2}),
        ("a = 1 #; b = 2\n", {"a": 1}),
        ('s = "# not a comment"\n', {"s": "# not a comment"}),
        ('unicode = "é ✓"\n', {"unicode": "é ✓"}),
    ],
)
def test_read_values_accepts_what_libvirt_accepts(text, values):
    assert read_values(text) == values


def test_the_first_assignment_is_the_one_libvirt_uses():
    text = "max_workers = 30\nmin_workers = 1\nmax_workers = 40\n#max_workers = 50\nmax_workers = 60\n"
    assert read_values(text) == {"max_workers": 30, "min_workers": 1}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("\n", "line 2: expecting a name"),
        ("   ", "line 1: expecting a name"),
        ("a = 1\n;", "line 2: expecting a name"),
        ("a = 1;;", "line 1: expecting a name"),
        ("1a = 2", "line 1: expecting a name"),
        ("_a = 2", "line 1: expecting a name"),
        ("a 1", "line 1: expecting an assignment"),
        ("a-b = 1", "line 1: expecting an assignment"),
        ("a =", "line 1: expecting a value"),
        ("a = \n1", "line 1: expecting a value"),
        ("a = yes", "line 1: expecting a value"),
        ("a = -", "line 1: unterminated number"),
        ("a = 1 2", "line 1: expecting a separator"),
        ("a = 5x", "line 1: expecting a separator"),
        ("a = 1.5", "line 1: expecting a separator"),
        ('a = "x', "line 1: unterminated string"),
        ('a = "x\ny"', "line 1: unterminated string"),
        ("a = 'x\ny'", "line 1: unterminated string"),
        ('a = """x\nyz and more', "line 2: unterminated string"),
        # a triple quote needs 7 characters to the end of the file, else it is "" then "x...
        ('a = """x\ny', "line 1: expecting a separator"),
        ('a = "x" "y"', "line 1: expecting a separator"),
        ("a = [1 2]", "line 1: expecting a separator in list"),
        ("a = [1,\n", "line 2: expecting a value"),
        ("a = [1", "line 1: list is not closed with ]"),
        ("a = [1, # comment\n 2]", "line 1: expecting a value"),
        ("a = [1 # comment\n]", "line 1: expecting a separator in list"),
        ("ok = 1\n\nbad value", "line 3: expecting an assignment"),
    ],
)
def test_read_values_refuses_what_libvirt_refuses(text, error):
    with pytest.raises(LibvirtAdminError) as raised:
        read_values(text)
    assert raised.value.message == error
    assert raised.value.code == ERR_CONF_SYNTAX


def test_read_values_takes_only_text():
    with pytest.raises(LibvirtAdminError, match="must be a str, got bytes"):
        read_values(b"a = 1\n")


# Generated config files, with the value each statement means. Strings take each of virconf's
# three forms, with only the characters that form can hold; lists spread over lines at random.
CHARACTERS = [*"abcXYZ019 _-:/.*+é✓\t#;=[],\\", "'", '"']
BLANK = st.sampled_from(["", " ", "\t", "  "])
BETWEEN_LIST_TOKENS = st.sampled_from(["", " ", "\n", " \n  ", "\n\n\t"])


@st.composite
def strings(draw) -> tuple:
    form = draw(st.sampled_from(["double", "single", "triple"]))
    if form == "double":
        text = draw(st.text(st.sampled_from([c for c in CHARACTERS if c != '"']), max_size=12))
        return f'"{text}"', text
    if form == "single":
        text = draw(st.text(st.sampled_from([c for c in CHARACTERS if c != "'"]), max_size=12))
        return f"'{text}'", text
    text = draw(st.text(st.sampled_from([*CHARACTERS, "\n"]), min_size=1, max_size=12))
    assume('"""' not in text and not text.endswith('"'))
    return f'"""{text}"""', text


@st.composite
def integers(draw) -> tuple:
    number = draw(st.integers(-(10**12), 10**12))
    sign = draw(st.sampled_from(["", "+"])) if number >= 0 else ""
    return f"{sign}{number}", number


@st.composite
def lists(draw, items: st.SearchStrategy) -> tuple:
    drawn = draw(st.lists(items, max_size=4))
    source = "[" + draw(BETWEEN_LIST_TOKENS)
    for index, (item_source, _value) in enumerate(drawn):
        if index:
            source += draw(BETWEEN_LIST_TOKENS) + "," + draw(BETWEEN_LIST_TOKENS)
        source += item_source
    if drawn and draw(st.booleans()):
        source += draw(BETWEEN_LIST_TOKENS) + ","
    source += draw(BETWEEN_LIST_TOKENS) + "]"
    return source, [value for _source, value in drawn]


SCALARS = st.one_of(integers(), strings())
VALUES = st.recursive(SCALARS, lists, max_leaves=6)
KEY_POOL = ["min_workers", "max_workers", "max_clients", "log_filters", "log_outputs", "other_key", "x1"]
PROSE = st.sampled_from(["# The minimum", "## section", "#", "# e.g. see x = 1 below", "#\tnote: ;", "# 1:qemu"])


@st.composite
def statements(draw, last: bool = True) -> tuple:
    """A statement; only the last of a line may end in a comment (the comment runs to the line's end)."""
    key = draw(st.sampled_from(KEY_POOL))
    value_source, value = draw(VALUES)
    source = f"{draw(BLANK)}{key}{draw(BLANK)}={draw(BLANK)}{value_source}"
    if last and draw(st.booleans()):
        source += f"{draw(BLANK)}# trailing, not a value = 1"
    return source, key, value


@st.composite
def documents(draw) -> tuple:
    """(text, [(first line, last line, kind, [(key, value or None)])], values libvirt reads)."""
    pieces = []
    for kind in draw(st.lists(st.sampled_from(["blank", "prose", "example", "one", "two"]), max_size=12)):
        if kind == "blank":
            pieces.append((draw(st.sampled_from(["", "  ", "\t"])), kind, []))
        elif kind == "prose":
            pieces.append((draw(PROSE), kind, []))
        elif kind == "example":
            key = draw(st.sampled_from(KEY_POOL))
            value_source, _value = draw(st.one_of(integers(), strings().filter(lambda drawn: "\n" not in drawn[0])))
            pieces.append((f"{draw(st.sampled_from(['#', '# ', '  #']))}{key} = {value_source}", kind, [(key, None)]))
        else:
            drawn = [
                draw(statements(last=index == count - 1))
                for count in [1 if kind == "one" else 2]
                for index in range(count)
            ]
            source = "; ".join(statement_source for statement_source, _key, _value in drawn)
            pieces.append((source, "assignment", [(key, value) for _source, key, value in drawn]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(source for source, _kind, _keys in pieces)
    if pieces and draw(st.booleans()):
        text += newline
    layout, line = [], 0
    for source, kind, keys in pieces:
        lines = source.count("\n") + 1
        layout.append((line, line + lines - 1, kind, keys))
        line += lines
    values: dict = {}
    for _source, kind, keys in pieces:
        if kind == "assignment":
            for key, value in keys:
                values.setdefault(key, value)
    return text, layout, values


def whitespace_only(text: str) -> bool:
    return bool(text) and not text.strip(" \t\r\n")


@given(documents())
def test_read_values_reads_generated_files_as_libvirt_would(document):
    text, _layout, values = document
    if whitespace_only(text):
        with pytest.raises(LibvirtAdminError, match="expecting a name"):
            read_values(text)
    else:
        assert read_values(text) == values


# --- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "rendered"),
    [
        ("min_workers", 5, "5"),
        ("offset", -3, "-3"),
        ("unix_sock_group", "libvirt", '"libvirt"'),
        ("s", "", '""'),
        ("s", 'say "hi"', "'say \"hi\"'"),
        ("s", 'it\'s "x" ok', '"""it\'s "x" ok"""'),
        ("s", "two\nlines", '"""two\nlines"""'),
        ("s", "back\\slash", '"back\\slash"'),
        ("log_filters", ["1:qemu", "4:object"], '"1:qemu 4:object"'),
        ("log_outputs", ("3:stderr",), '"3:stderr"'),
        ("log_outputs", "3:syslog:libvirtd", '"3:syslog:libvirtd"'),
        ("log_filters", [], '""'),
        ("access_drivers", ["polkit"], '[ "polkit" ]'),
        ("l", [], "[  ]"),
        ("l", [1, ["a", 'b"']], '[ 1, [ "a", \'b"\' ] ]'),
    ],
)
def test_render_value_writes_what_virconf_reads_back(key, value, rendered):
    assert render_value(key, value) == rendered
    assert read_values(f"{key} = {rendered}\n")[key] == config_value(key, value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (True, "a value must be an integer, a string or a list of those"),
        (None, "a value must be an integer, a string or a list of those"),
        (1.5, "a value must be an integer, a string or a list of those"),
        ({"a": 1}, "a value must be an integer, a string or a list of those"),
        ([1, None], "a value must be an integer, a string or a list of those"),
        ("nul\0char", "libvirt would cut the string at its NUL character"),
        ("'both' \"quotes\"", "cannot hold this string"),
        ('a"""b\n', "cannot hold this string"),
    ],
)
def test_render_value_refuses_what_a_config_file_cannot_hold(value, why):
    with pytest.raises(LibvirtAdminError) as raised:
        render_value("key", value)
    assert why in raised.value.message
    assert raised.value.message.startswith(f"cannot write key = {value!r} to a libvirt config file")
    assert raised.value.code == ERR_INVALID_ARG


def test_log_strings_must_be_lists_of_strings():
    with pytest.raises(LibvirtAdminError, match="the items of a log string must be strings"):
        render_value("log_filters", ["1:qemu", 2])


@given(st.text(st.sampled_from([*CHARACTERS, "\n", "\r", "\0"]), max_size=16))
def test_every_string_round_trips_or_is_refused_for_a_reason(text):
    try:
        rendered = render_value("key", text)
    except LibvirtAdminError as error:
        both = "\n" in text or "\r" in text or ('"' in text and "'" in text)
        assert "\0" in text or (both and ('"""' in text or text.endswith('"'))), error.message
        return
    assert read_values(f"key = {rendered}")["key"] == text
    assert read_values(f"key = {rendered}\nnext = 1\n") == {"key": text, "next": 1}


# --- the minimal edit --------------------------------------------------------------------------------


def test_an_active_assignment_is_replaced_where_it_stands():
    text = "# header\nmax_workers=20   # mine\nmin_workers = 5\n"
    assert set_values(text, {"max_workers": 40}) == "# header\nmax_workers=40   # mine\nmin_workers = 5\n"


def test_a_commented_example_becomes_the_assignment_at_the_same_spot():
    text = (
        "# The minimum limit sets the number of workers to start up\n"
        "#min_workers = 5\n"
        "#max_workers = 20\n"
        "\n"
        '  # log_filters="1:qemu 1:libvirt 4:object 4:json 4:event 1:util"\n'
        "#log_outputs='3:syslog:libvirtd'   # a trailing note\n"
        "end = 1\n"
    )
    edited = set_values(text, {"min_workers": 8, "log_filters": ["1:qemu", "4:object"], "log_outputs": ["3:stderr"]})
    assert edited == (
        "# The minimum limit sets the number of workers to start up\n"
        "min_workers = 8\n"
        "#max_workers = 20\n"
        "\n"
        '  log_filters="1:qemu 4:object"\n'
        'log_outputs="3:stderr"   # a trailing note\n'
        "end = 1\n"
    )


def test_only_the_first_commented_example_is_used_and_prose_is_left_alone():
    text = "# max_clients is the limit\n#max_clients = 1\n#max_clients = 2\n"
    assert set_values(text, {"max_clients": 9}) == "# max_clients is the limit\nmax_clients = 9\n#max_clients = 2\n"
    prose = "# to virtlockd. So 'max_clients' will affect how many VMs can\n#max_clients=\n"
    assert set_values(prose, {"max_clients": 9}) == prose + "max_clients = 9\n"


def test_an_active_assignment_wins_over_a_commented_example():
    text = "#max_workers = 20\nmax_workers = 30\n"
    assert set_values(text, {"max_workers": 40}) == "#max_workers = 20\nmax_workers = 40\n"


@pytest.mark.parametrize(
    ("text", "edited"),
    [
        ("", "max_workers = 40\n"),
        ("a = 1", "a = 1\nmax_workers = 40\n"),
        ("a = 1\n", "a = 1\nmax_workers = 40\n"),
        ("# last line is a comment", "# last line is a comment\nmax_workers = 40\n"),
        ("a = 1;", "a = 1;\nmax_workers = 40\n"),
        ("a = 1\r\n# c\r\n", "a = 1\r\n# c\r\nmax_workers = 40\r\n"),
        ("a = 1\n\n\n", "a = 1\n\n\nmax_workers = 40\n"),
    ],
)
def test_a_key_found_nowhere_is_appended_on_a_line_of_its_own(text, edited):
    assert set_values(text, {"max_workers": 40}) == edited


def test_a_multi_line_list_is_replaced_with_all_its_lines():
    text = 'before = 1\nlog_filters = [\n  "1:qemu",\n  "4:object", # not allowed here by libvirt anyway\n]\n'
    with pytest.raises(LibvirtAdminError, match="line 4: expecting a value"):
        set_values(text, {"log_filters": "1:qemu"})
    text = 'before = 1\nlog_filters = [\n  "1:qemu",\n  "4:object",\n]   # was a list\nafter = "x"\n'
    edited = set_values(text, {"log_filters": ["1:qemu", "4:object"]})
    assert edited == 'before = 1\nlog_filters = "1:qemu 4:object"   # was a list\nafter = "x"\n'
    assert read_values(edited) == {"before": 1, "log_filters": "1:qemu 4:object", "after": "x"}
    listed = set_values(text, {"log_filters": "x", "tls_allowed_dn_list": ["DN1", "DN2"]})
    assert listed.endswith('after = "x"\ntls_allowed_dn_list = [ "DN1", "DN2" ]\n')


def test_statements_sharing_a_line_are_edited_in_place():
    text = "a = 1; max_workers = 2 ;b=3\n"
    assert set_values(text, {"max_workers": 40, "b": "x"}) == 'a = 1; max_workers = 40 ;b="x"\n'


def test_every_active_duplicate_is_rewritten():
    """libvirt reads the first assignment of a key; a second one is dead text that misleads
    whoever reads the file. Every active assignment gets the new value, each in place."""
    text = "max_workers = 30\nmin_workers = 1\n#max_workers = 5\nmax_workers = [\n 1 ]\n"
    edited = set_values(text, {"max_workers": 40})
    assert edited == "max_workers = 40\nmin_workers = 1\n#max_workers = 5\nmax_workers = 40\n"
    assert read_values(edited)["max_workers"] == 40
    assert set_values(edited, {"max_workers": 40}) == edited
    # the first already holds the value, a later one does not: the later one is rewritten too
    assert set_values("a = 4\na = 5\n", {"a": 4}) == "a = 4\na = 4\n"


def test_values_already_in_the_file_leave_it_byte_for_byte():
    text = (
        "min_workers=8  # tuned\r\n"
        '\tlog_filters = "1:qemu 4:object"\r\n'
        "log_outputs = '3:stderr'\r\n"
        "max_clients = +100;x=1\r\n"
        "# trailing comment, no final newline"
    )
    values = {"min_workers": 8, "log_filters": ["1:qemu", "4:object"], "log_outputs": "3:stderr", "max_clients": 100}
    assert set_values(text, values) == text
    assert set_values(text, {}) == text


def test_a_value_of_another_type_is_rewritten():
    # libvirt refuses max_workers="30" (it expects an unsigned integer): the edit fixes it
    assert set_values('max_workers = "30"\n', {"max_workers": 30}) == "max_workers = 30\n"
    assert set_values("log_filters = ['1:a']\n", {"log_filters": ["1:a"]}) == 'log_filters = "1:a"\n'


def test_set_values_refuses_a_file_libvirt_cannot_read_and_keys_that_are_not_keys():
    with pytest.raises(LibvirtAdminError) as raised:
        set_values("max_workers = 20\nmin_workers = five\n", {"max_workers": 40})
    assert raised.value.message == "line 2: expecting a value"
    assert raised.value.code == ERR_CONF_SYNTAX
    for key in ("max-workers", "1x", "", "a b", 3):
        with pytest.raises(LibvirtAdminError, match="is not a config key"):
            set_values("", {key: 1})


def may_change(layout: list, keys) -> set:
    """The lines set_values may touch: assignments and commented examples of the keys."""
    lines = set()
    for first, last, kind, pairs in layout:
        if kind in ("assignment", "example") and {key for key, _value in pairs} & set(keys):
            lines.update(range(first, last + 1))
    return lines


def lines_of(text: str) -> list:
    """The lines, without their line ends (an appended line gives the last one its line end)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if lines[-1] == "" else lines


def is_subsequence(items: list, sequence: list) -> bool:
    remaining = iter(sequence)
    return all(any(item == candidate for candidate in remaining) for item in items)


NEW_VALUES = st.dictionaries(
    st.sampled_from([*KEY_POOL, "brand_new"]),
    st.one_of(
        st.integers(0, 2**32 - 1),
        st.text(st.sampled_from([c for c in CHARACTERS if c != '"']), max_size=10),
        st.lists(st.sampled_from(["1:qemu", "4:object", "3:stderr", "a b"]), max_size=3),
    ),
    max_size=4,
)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(document=documents(), values=NEW_VALUES)
def test_set_values_changes_only_the_lines_of_the_keys_it_sets(document, values):
    text, layout, before = document
    assume(not whitespace_only(text))
    edited = set_values(text, values)
    assert read_values(edited) == {**before, **{key: config_value(key, value) for key, value in values.items()}}
    assert set_values(edited, values) == edited  # set twice == set once
    touchable = may_change(layout, values)
    old_lines, new_lines = lines_of(text), lines_of(edited)
    kept = [line for index, line in enumerate(old_lines) if index not in touchable]
    assert is_subsequence(kept, new_lines)  # every other line is still there, in order
    assert len(new_lines) <= len(old_lines) + len(values)
    for line in set(new_lines) - set(old_lines):  # a new line is the line of a key being set
        assert any(re.search(rf"(^|[\s;]){key}\s*=", line) for key in values), line
    if touchable:
        first = min(touchable)
        unchanged = sum(len(line) + 1 for line in text.split("\n")[:first])
        assert edited[:unchanged] == text[:unchanged]  # byte for byte up to the first line of a key set
    else:
        assert edited.startswith(text)  # nothing of the keys in the file: only appended


@given(document=documents())
def test_values_in_effect_leave_a_generated_file_byte_for_byte(document):
    text, layout, before = document
    assume(not whitespace_only(text))
    assigned: dict = {}
    for _first, _last, kind, pairs in layout:
        if kind == "assignment":
            for key, value in pairs:
                assigned.setdefault(key, []).append(value)
    # the value in effect of each key whose assignments all agree (a log key's list would become a string)
    in_effect = {
        key: before[key]
        for key, values in assigned.items()
        if all(value == before[key] for value in values)
        and not (key in _confsyntax.LOG_KEYS and isinstance(before[key], list))
    }
    assert set_values(text, in_effect) == text
    assert set_values(text, {}) == text


def test_a_disagreeing_later_assignment_is_rewritten_even_when_the_first_holds_the_value():
    assert set_values("a = 4\na = 5\n", {"a": 4}) == "a = 4\na = 4\n"


# --- the files Debian ships ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["libvirtd.conf", "virtlogd.conf", "virtlockd.conf"])
def test_the_shipped_files_parse(name):
    text = shipped_or_fail(name)
    read_values(text)
    assert set_values(text, {}) == text


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("libvirtd.conf", LIBVIRTD_VALUES),
        ("virtlogd.conf", SHARED_LIMIT_VALUES),
        ("virtlockd.conf", SHARED_LIMIT_VALUES),
    ],
)
def test_each_key_of_a_shipped_file_is_one_changed_line(name, values):
    text = shipped_or_fail(name)
    lines = text.split("\n")
    for key, value in values.items():
        edited = set_values(text, {key: value})
        changes = line_changes(text, edited)
        active = [index for index, line in enumerate(lines) if re.match(rf"\s*{key}\s*=", line)]
        example = [index for index, line in enumerate(lines) if re.match(rf"\s*#\s*{key}\s*=", line)]
        if active:  # an administrator set it: those lines change, nothing else
            assert {index for _tag, i1, i2, _j1, _j2 in changes for index in range(i1, i2)} <= set(active)
        elif example:  # the line of the commented-out example becomes the assignment
            assert len(changes) == 1, changes
            tag, i1, i2, j1, j2 = changes[0]
            assert (tag, i1, i2, j2 - j1) == ("replace", example[0], example[0] + 1, 1)
            spacing = re.match(rf"\s*#\s*({key}\s*=\s*)", lines[i1]).group(1)
            assert edited.split("\n")[j1].endswith(f"{spacing}{render_value(key, value)}")
        else:
            assert len(changes) == 1 and changes[0][0] == "insert" and changes[0][1] >= len(lines) - 1, changes
        assert read_values(edited)[key] == config_value(key, value)
        assert set_values(edited, {key: value}) == edited


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("libvirtd.conf", LIBVIRTD_VALUES),
        ("virtlogd.conf", SHARED_LIMIT_VALUES),
        ("virtlockd.conf", SHARED_LIMIT_VALUES),
    ],
)
def test_every_key_of_a_shipped_file_at_once(name, values):
    text = shipped_or_fail(name)
    before = read_values(text)
    edited = set_values(text, values)
    assert read_values(edited) == {**before, **{key: config_value(key, value) for key, value in values.items()}}
    assert set_values(edited, values) == edited
    changed_lines = sum(max(i2 - i1, j2 - j1) for _tag, i1, i2, j1, j2 in line_changes(text, edited))
    assert changed_lines == len(values)
    assert len(edited.split("\n")) == len(text.split("\n"))


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("libvirtd.conf", LIBVIRTD_VALUES),
        ("virtlogd.conf", SHARED_LIMIT_VALUES),
        ("virtlockd.conf", SHARED_LIMIT_VALUES),
    ],
)
def test_the_packaged_files_have_every_key_commented_out_and_each_becomes_its_line(name, values):
    """Debian 12's files have no active line: every key is written in place of its example,
    so the edited file has as many lines as the shipped one and differs at one line per key."""
    text = shipped_or_fail(name, packaged=True)
    assert read_values(text) == {}
    edited = set_values(text, values)
    old_lines, new_lines = text.split("\n"), edited.split("\n")
    assert len(new_lines) == len(old_lines)
    changed = {index: new_lines[index] for index in range(len(old_lines)) if old_lines[index] != new_lines[index]}
    assert len(changed) == len(values)
    for key, value in values.items():
        [index] = [index for index, line in enumerate(old_lines) if re.match(rf"#{key} ?=", line)]
        assert changed[index] == re.sub(r"^#(\w+ ?= ?).*", r"\1", old_lines[index]) + render_value(key, value)


# --- the file ----------------------------------------------------------------------------------------


def test_write_atomically_replaces_the_file_and_keeps_mode_and_owner(tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_text("old = 1\n")
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 4321, 4322)
    before = path.stat()
    assert write_atomically(str(path), "new = 2\n", backup=False) is None
    after = path.stat()
    assert path.read_text() == "new = 2\n"
    assert after.st_ino != before.st_ino  # a new file, renamed over the old one
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert sorted(os.listdir(tmp_path)) == ["libvirtd.conf"]  # no temporary file left


def test_write_atomically_backs_up_first(tmp_path):
    path = tmp_path / "virtqemud.conf"
    path.write_text("old = 1\n")
    path.chmod(0o600)
    saved = write_atomically(str(path), "new = 2\n", backup=True)
    assert re.fullmatch(re.escape(str(path)) + r"\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", saved)
    assert Path(saved).read_text() == "old = 1\n"
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert path.read_text() == "new = 2\n"
    again = write_atomically(str(path), "newer = 3\n", backup=True)
    assert again != saved and Path(again).read_text() == "new = 2\n"  # the same second: the pid tells them apart


def test_write_atomically_writes_nothing_when_the_file_says_it_already(tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_text("same = 1\n")
    inode = path.stat().st_ino
    assert write_atomically(str(path), "same = 1\n", backup=True) is None
    assert path.stat().st_ino == inode
    assert os.listdir(tmp_path) == ["libvirtd.conf"]


def test_write_atomically_needs_create_for_a_missing_file(tmp_path):
    path = tmp_path / "virtqemud.conf"
    with pytest.raises(LibvirtAdminError) as raised:
        write_atomically(str(path), "a = 1\n", backup=True)
    assert raised.value.message.startswith(f"the config file {path} does not exist; set create: true to create it")
    assert not path.exists()
    old_umask = os.umask(0o077)
    try:
        assert write_atomically(str(path), "a = 1\n", backup=True, create=True) is None
    finally:
        os.umask(old_umask)
    assert path.read_text() == "a = 1\n"
    status = path.stat()
    assert stat.S_IMODE(status.st_mode) == 0o644
    assert (status.st_uid, status.st_gid) == (os.geteuid(), os.getegid())
    with pytest.raises(LibvirtAdminError, match=r"its directory .* does not exist"):
        write_atomically(str(tmp_path / "no-such-dir" / "x.conf"), "a = 1\n", create=True)


def test_write_atomically_follows_a_symlink(tmp_path):
    target = tmp_path / "real.conf"
    target.write_text("a = 1\n")
    link = tmp_path / "libvirtd.conf"
    link.symlink_to(target)
    write_atomically(str(link), "a = 2\n", backup=False)
    assert link.is_symlink() and target.read_text() == "a = 2\n"


def test_write_atomically_refuses_what_is_not_a_file(tmp_path):
    with pytest.raises(LibvirtAdminError, match="is not a regular file"):
        write_atomically(str(tmp_path), "a = 1\n")


def test_write_atomically_says_what_to_do_when_it_may_not_write(tmp_path, monkeypatch):
    path = tmp_path / "libvirtd.conf"
    path.write_text("a = 1\n")

    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_conffile.tempfile, "mkstemp", refused)
    with pytest.raises(LibvirtAdminError) as raised:
        write_atomically(str(path), "a = 2\n")
    assert raised.value.message == (
        f"cannot write {path}: Permission denied; run the task as root (become: true) or as a user who may write there"
    )
    assert raised.value.code == ERR_SYSTEM_ERROR
    monkeypatch.undo()
    monkeypatch.setattr(_conffile.os, "access", lambda *_args: False)
    with pytest.raises(LibvirtAdminError, match=f"cannot write {path}: permission denied; run the task as root"):
        write_atomically(str(path), "a = 2\n")
    assert path.read_text() == "a = 1\n"


def test_write_atomically_leaves_the_original_and_no_temporary_file_when_renaming_fails(tmp_path, monkeypatch):
    path = tmp_path / "libvirtd.conf"
    path.write_text("a = 1\n")

    def failing_rename(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_conffile.os, "rename", failing_rename)
    with pytest.raises(LibvirtAdminError, match=f"cannot write {path}: No space left on device"):
        write_atomically(str(path), "a = 2\n")
    assert path.read_text() == "a = 1\n"
    assert os.listdir(tmp_path) == ["libvirtd.conf"]


def test_write_atomically_writes_bytes_read_with_surrogateescape_back_unchanged(tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_bytes(b"# caf\xe9 in latin-1\nmax_workers = 20\n")
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    write_atomically(str(path), set_values(text, {"max_workers": 40}))
    assert path.read_bytes() == b"# caf\xe9 in latin-1\nmax_workers = 40\n"


def test_write_atomically_says_when_the_file_system_is_read_only(tmp_path, monkeypatch):
    path = tmp_path / "libvirtd.conf"
    path.write_text("a = 1\n")

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(_conffile.tempfile, "mkstemp", read_only)
    with pytest.raises(LibvirtAdminError) as raised:
        write_atomically(str(path), "a = 2\n", backup=True)
    assert raised.value.message == f"cannot write {path}: Read-only file system; the file system is read-only"
    assert path.read_text() == "a = 1\n"
