"""_protocol's URI resolution (its plain-URI path and _protocol_uri) without a daemon: each
expectation below is what libvirt-admin.so 9.0 and 11.3 gave for the same input
(tests/integration/test_protocol_uris.py checks them against the library itself, and many more)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol, _protocol_uri
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import resolve_uri
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol_uri import parse_uri


@pytest.fixture
def conf_path(tmp_path, monkeypatch):
    """Where root's libvirt-admin.conf is (tmp_path/libvirt, no file there yet), and no
    LIBVIRT_ADMIN_DEFAULT_URI."""
    if os.geteuid() != 0:
        pytest.skip("the system configuration file is root's")
    monkeypatch.setattr(_protocol, "SYSCONFDIR", str(tmp_path))
    monkeypatch.delenv("LIBVIRT_ADMIN_DEFAULT_URI", raising=False)
    (tmp_path / "libvirt").mkdir()
    return tmp_path / "libvirt" / "libvirt-admin.conf"


@pytest.fixture
def root_conf(conf_path):
    """A writer of root's libvirt-admin.conf (see conf_path), returning its path."""
    path = conf_path

    def write(text: str):
        path.write_bytes(text.encode())
        return str(path)

    return write


def refused(uri):
    with pytest.raises(LibvirtAdminError) as raised:
        resolve_uri(uri)
    return raised.value.code, raised.value.domain, raised.value.message


@pytest.mark.parametrize(
    ("uri", "reported"),
    [
        ("libvirtd:///system", "libvirtd:///system"),
        ("libvirtd:/system", "libvirtd:///system"),
        ("libvirtd://h/system?", "libvirtd://h/system?"),
        ("libvirtd:///sys%74em#fr%20ag", "libvirtd:///system#fr%20ag"),
        ("libvirtd:///system?socket=/run/x", "libvirtd:///system?socket=/run/x"),
        ("//?socket=/tmp/q", "//?socket=/tmp/q"),
        ("foo://@/system?socket=/s", "foo://%40%2Fsystem%3Fsocket=%2Fs@/system?socket=/s"),  # libxml2 2.9's quirk
        ("libvirtd://[::1]:16509/system", "libvirtd://[::1]:16509/system"),
        ("libvirtd://u:p@h:0/system", "libvirtd://u:p@h/system"),
        ("libvirtd:///a:b", "libvirtd:///a%3Ab"),
    ],
)
def test_uris_are_reported_as_virAdmConnectGetURI_formats_them(uri, reported):
    assert parse_uri(uri).format() == reported


@pytest.mark.parametrize("uri", ["a b", "libvirtd://h:/system", 'libvirtd:///sys"tem', "libvirtd:///%zz?x", "é:///x"])
def test_uris_libxml2_cannot_parse_are_an_internal_uri_error(uri):
    with pytest.raises(LibvirtAdminError) as raised:
        parse_uri(uri)
    assert (raised.value.code, raised.value.domain, raised.value.message) == (
        1,
        45,
        f"internal error: Unable to parse URI {uri}",
    )


def test_query_parameters_split_as_libvirt_splits_them():
    assert parse_uri("x:///?a=1;b=2&c=%41&&d&=e&socket=").params == [
        (b"a", b"1;b=2"),  # an "&" anywhere makes ";" no separator
        (b"c", b"A"),
        (b"d", b""),
        (b"socket", b""),
    ]
    assert parse_uri("x:///?a=1;b=2").params == [(b"a", b"1"), (b"b", b"2")]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("libvirtd:///system", b"/run/libvirt/libvirt-admin-sock"),
        ("virtproxyd:///system", b"/run/libvirt/virtproxyd-admin-sock"),  # no alias of libvirtd's, as in libvirt
        ("virtqemud:///system", b"/run/libvirt/virtqemud-admin-sock"),
        ("virtlogd:///system?socket=/a&socket=/b", b"/b"),
        ("?socket=/x", b"/x"),
        ("libvirtd:///system?socket=/a%20b", b"/a b"),
    ],
)
def test_socket_paths(uri, path):
    assert _protocol_uri._socket_path(parse_uri(uri)) == path


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("libvirtd:///foo", "unsupported configuration: Invalid URI path '/foo', try '/system'"),
        ("libvirtd://", "unsupported configuration: Invalid URI path '', try '/system'"),
        ("foo:///system", "unsupported configuration: Unsupported URI scheme 'foo'"),
        ("LIBVIRTD:///system", "unsupported configuration: Unsupported URI scheme 'LIBVIRTD'"),
        ("libvirtd:///system?sock=1", "unsupported configuration: Unknown URI parameter 'sock'"),
        ("/system", "unsupported configuration: No URI scheme specified"),
    ],
)
def test_uris_getSocketPath_refuses(uri, message):
    with pytest.raises(LibvirtAdminError) as raised:
        _protocol_uri._socket_path(parse_uri(uri))
    assert (raised.value.code, raised.value.domain, raised.value.message) == (67, 62, message)


def test_session_sockets_are_in_the_runtime_directory(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7/")
    assert _protocol_uri._socket_path(parse_uri("virtqemud:///session")) == b"/run/user/7/libvirt/virtqemud-admin-sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", "//")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert _protocol_uri._socket_path(parse_uri("libvirtd:///session")) == b"//.cache/libvirt/libvirt-admin-sock"
    monkeypatch.setenv("XDG_CACHE_HOME", "/c/")
    assert _protocol_uri.user_runtime_directory() == "/c/libvirt"


@pytest.mark.parametrize(
    ("elements", "joined"),
    [
        (("/root", ".cache"), "/root/.cache"),
        (("/", ".cache"), "/.cache"),
        (("//", ".cache"), "//.cache"),
        (("relative/dir//", ".cache"), "relative/dir/.cache"),
        (("", ".cache"), ".cache"),
        (("/a/", "/b/"), "/a/b/"),
        (("///",), "///"),
        ((), ""),
    ],
)
def test_build_filename_joins_as_glib_does(elements, joined):
    assert _protocol_uri._build_filename(*elements) == joined


def test_the_default_uri_comes_from_the_environment_then_the_file_then_root(root_conf, monkeypatch):
    root_conf('uri_default = "virtqemud:///system"\n')
    monkeypatch.setenv("LIBVIRT_ADMIN_DEFAULT_URI", "virtlogd:///system")
    assert resolve_uri() == ("virtlogd:///system", b"/run/libvirt/virtlogd-admin-sock")
    monkeypatch.setenv("LIBVIRT_ADMIN_DEFAULT_URI", "")  # empty counts as unset
    assert resolve_uri() == ("virtqemud:///system", b"/run/libvirt/virtqemud-admin-sock")
    root_conf("# nothing\n")
    assert resolve_uri() == ("libvirtd:///system", b"/run/libvirt/libvirt-admin-sock")


def test_aliases_apply_to_any_uri(root_conf):
    root_conf('uri_aliases = [\n  "qemu=virtqemud:///system",\n  "logs=virtlogd:///system?socket=/l",\n]\n')
    assert resolve_uri("qemu") == ("virtqemud:///system", b"/run/libvirt/virtqemud-admin-sock")
    assert resolve_uri("logs")[1] == b"/l"
    assert resolve_uri("libvirtd:///system")[0] == "libvirtd:///system"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("uri_default = 12\n", (1, 9, "internal error: {}: expected a string for 'uri_default' parameter")),
        ('uri_default = "libvirtd:///foo\n', (33, 9, "configuration file syntax error: {}:1: unterminated string")),
        ("uri_default = \n", (33, 9, "configuration file syntax error: {}:1: expecting a value")),
        ('x = 1\nuri_default = "a" y\n', (33, 9, "configuration file syntax error: {}:2: expecting a separator")),
        ('uri_default = "a"x', (33, 9, "configuration file syntax error: {}:1: expecting a separator")),
        ("1 = 2\n", (33, 9, "configuration file syntax error: {}:1: expecting a name")),
        ("\n", (33, 9, "configuration file syntax error: {}:2: expecting a name")),
        ("uri_default = [ 'a'\n", (33, 9, "configuration file syntax error: {}:2: list is not closed with ]")),
        ("uri_default = ['a' 'b']\n", (33, 9, "configuration file syntax error: {}:1: expecting a separator in list")),
        ("uri_default = +\n", (33, 9, "configuration file syntax error: {}:1: unterminated number")),
        ("uri_default", (33, 9, "configuration file syntax error: {}:1: expecting an assignment")),
        (
            'uri_aliases = ["foo"]\n',
            (
                33,
                45,
                "configuration file syntax error: Malformed 'uri_aliases' config "
                "entry 'foo', expected 'alias=uri://host/path'",
            ),
        ),
        (
            'uri_aliases = ["f.o=x"]\n',
            (
                33,
                45,
                "configuration file syntax error: Malformed 'uri_aliases' config "
                "entry 'f.o=x', aliases may only contain 'a-Z, 0-9, _, -'",
            ),
        ),
        ('uri_aliases = "f=x"\n', (1, 9, "internal error: {}: expected a string list for 'uri_aliases' parameter")),
        (
            "uri_aliases = [1]\n",
            (33, 9, "configuration file syntax error: {}: expected a string list for 'uri_aliases' parameter"),
        ),
    ],
)
def test_a_file_libvirt_refuses_is_refused_with_its_words(root_conf, text, error):
    path = root_conf(text)
    code, domain, message = error
    assert refused(None) == (code, domain, message.format(path))


@pytest.mark.parametrize(
    ("text", "uri"),
    [
        ('uri_default = "a" ; uri_default = "virtlogd:///system"\n', None),  # the first one counts
        ('#c\n\n  uri_default = "virtlogd:///system" # c\n', "virtlogd:///system"),
        ('uri_default = """virtlogd:///system"""\n', "virtlogd:///system"),
        ("uri_default = 'virtlogd:///system'\r\n", "virtlogd:///system"),
        ('uri_default = "virtlogd:///system"', "virtlogd:///system"),
        ("x = [ 1, 'a', [],\n ]\nuri_default = 'virtlogd:///system'\n", "virtlogd:///system"),
    ],
)
def test_files_libvirt_reads(root_conf, text, uri):
    root_conf(text)
    if uri is None:
        assert refused(None)[2] == "unsupported configuration: No URI scheme specified"
    else:
        assert resolve_uri()[0] == uri


def test_a_folder_or_an_oversized_file_is_a_read_error(root_conf, tmp_path):
    path = root_conf("x" * (10 * 1024 * 1024 + 1))
    assert refused(None) == (38, 0, f"Failed to read file '{path}': Value too large for defined data type")
    os.unlink(path)
    os.mkdir(path)
    assert refused(None) == (38, 0, f"Failed to read file '{path}': Is a directory")


def test_another_user_reads_the_file_in_their_configuration_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert _protocol_uri.admin_conf_path() == f"{tmp_path}/libvirt/libvirt-admin.conf"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", "/home/u/")
    assert _protocol_uri.admin_conf_path() == "/home/u/.config/libvirt/libvirt-admin.conf"
    monkeypatch.delenv("LIBVIRT_ADMIN_DEFAULT_URI", raising=False)
    assert _protocol_uri.default_uri(_protocol_uri._Conf()) == b"libvirtd:///session"


# The plain-URI path of _protocol.resolve_uri: the same answers as _protocol_uri's, without importing it.

PLAIN = [
    "libvirtd:///system",
    "virtqemud:///system",
    "virtproxyd:///system",
    "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock",
    "virtqemud:///system?socket=/tmp/a-b_c.d/x~y:z@w+v,u",
]
NOT_PLAIN = [
    None,  # with LIBVIRT_ADMIN_DEFAULT_URI set below
    "libvirtd:///session",
    "libvirtd:/system",
    "virt:///system",
    "LIBVIRTD:///system",
    "libvirtd:///system?socket=/tmp/a%41",
    "libvirtd:///system?socket=/tmp/a&x=1",
    "libvirtd:///system?socket=",
    "libvirtd:///system#x",
    "qemu:///system",
]


def outcome(resolve, uri):
    try:
        return resolve(uri)
    except LibvirtAdminError as error:
        return error.code, error.domain, error.message


@pytest.mark.parametrize("conf", [None, "", "# all comments\n\n   # and blanks\r\n\t#\n", "#x\r# y\n\n\n"])
@pytest.mark.parametrize("uri", PLAIN + NOT_PLAIN)
def test_the_plain_path_answers_as_the_parser_does(conf_path, monkeypatch, conf, uri):
    if conf is not None:
        conf_path.write_text(conf)
    if uri is None:
        monkeypatch.setenv("LIBVIRT_ADMIN_DEFAULT_URI", "virtlogd:///system?socket=/tmp/s")
    assert _protocol._no_conf()
    assert outcome(resolve_uri, uri) == outcome(_protocol_uri.resolve_uri, uri)


@pytest.mark.parametrize("uri", PLAIN)
def test_a_conf_that_sets_anything_goes_through_the_parser(conf_path, uri):
    conf_path.write_text(f'uri_aliases = [ "x={uri}" ]\n')
    assert not _protocol._no_conf()
    conf_path.write_text('uri_aliases = [ "bad alias" ]\n')
    assert outcome(resolve_uri, uri)[2].startswith("configuration file syntax error: Malformed 'uri_aliases'")


@pytest.mark.parametrize("text", ["\n", " \t\r\n", "x = 1\n", "# c\n\0\n", "# c\n x"])
def test_a_conf_with_more_than_comments_goes_through_the_parser(conf_path, text):
    conf_path.write_text(text)
    assert not _protocol._no_conf()
    assert outcome(resolve_uri, "libvirtd:///system") == outcome(_protocol_uri.resolve_uri, "libvirtd:///system")


def test_a_conf_that_is_no_regular_file_goes_through_the_parser(conf_path):
    conf_path.mkdir()
    assert not _protocol._no_conf()
    assert outcome(resolve_uri, "libvirtd:///system")[2] == f"Failed to read file '{conf_path}': Is a directory"


def test_a_plain_uri_imports_neither_the_parser_nor_the_config_syntax():
    if os.geteuid() != 0:
        pytest.skip("the plain-URI path is root's")
    program = (
        "import sys\n"
        "from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol\n"
        "_protocol.SYSCONFDIR = sys.argv[1]\n"
        "print(_protocol.resolve_uri('virtqemud:///system'))\n"
        "print(sorted(name.rsplit('.', 1)[-1] for name in sys.modules if '.module_utils._' in name))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, "/nonexistent"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
    )
    reported, loaded = done.stdout.splitlines()
    assert reported == "('virtqemud:///system', b'/run/libvirt/virtqemud-admin-sock')"
    assert "_protocol_uri" not in loaded and "_confsyntax" not in loaded, loaded
