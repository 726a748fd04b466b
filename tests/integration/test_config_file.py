"""libvirt itself reads the config files _confsyntax edits: a sandboxed daemon started on an
edited file runs with the values written, as virt-admin shows; and libvirt accepts and
refuses the same files as _confsyntax's parser, reading the same values from them."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._conffile import write_atomically
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._confsyntax import read_values, set_values
from tests.harness import witness
from tests.harness.daemons import Daemon, DaemonError
from tests.unit.plugins.module_utils.test_config import (
    LIBVIRTD_VALUES,
    MISSING,
    SHARED_LIMIT_VALUES,
    shipped_config,
)


class ConfigFileDaemon(Daemon):
    """A sandboxed daemon reading the given text, verbatim, as its config file.

    Daemon.start() calls _prepare(), which writes Daemon.config into <root>/etc/<binary>.conf;
    this writes the text over it afterwards, with the writer under test."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = text

    @property
    def config_file(self):
        return self.root / "etc" / f"{self.binary}.conf"

    def _prepare(self) -> None:
        super()._prepare()
        write_atomically(str(self.config_file), self.text, backup=False, create=True)


# A file written by hand: duplicates (libvirt reads the first), two statements on a line, a
# multi-line list where libvirt wants a string (so libvirtd refuses this file as it is),
# examples commented out with and without indentation, an unknown key libvirtd ignores.
HAND_WRITTEN = (
    "# libvirtd.conf, edited by hand over the years\n"
    "max_workers = 50   # the one libvirt reads\n"
    "min_workers=1; prio_workers = 2\n"
    "#max_clients = 5000\n"
    "log_filters = [\n"
    '  "1:qemu",\n'
    '  "1:libvirt",\n'
    "]\n"
    'unknown_list = [ \'kept\', """as\nit is""" ]\n'
    "max_workers = 60\n"
    "  #admin_max_workers = 5\n"
    "admin_min_workers = 1"
)


def check_libvirtd_runs_with(edited: str) -> None:
    with ConfigFileDaemon(edited) as daemon:
        assert daemon.config_file.read_text() == edited
        uri = daemon.uri
        assert witness.settings(uri, "libvirtd") == (3, 17, 4)
        limits = witness.client_limits(uri, "libvirtd")
        assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (123, 7)
        admin = witness.threadpool(uri, "admin")
        assert (admin["minWorkers"], admin["maxWorkers"]) == (2, 6)
        assert witness.client_limits(uri, "admin")["nclients_max"] == 9
        assert witness.log_filters(uri) == "3:*rpc* 4:*object* 1:*util.json*"
        assert set(witness.log_outputs(uri).split()) == {"3:stderr", "4:file:/var/log/libvirt/config-test.log"}


def test_libvirtd_runs_with_every_key_set_in_its_shipped_file():
    shipped = shipped_config("libvirtd.conf")
    if shipped is None:
        pytest.fail(MISSING.format(name="libvirtd.conf"))
    check_libvirtd_runs_with(set_values(shipped, LIBVIRTD_VALUES))


def test_libvirtd_runs_with_every_key_set_in_a_hand_written_file():
    with pytest.raises(DaemonError, match="expected a string for 'log_filters' parameter"):
        ConfigFileDaemon(HAND_WRITTEN).start()
    edited = set_values(HAND_WRITTEN, LIBVIRTD_VALUES)
    assert edited.startswith(
        "# libvirtd.conf, edited by hand over the years\n"
        "max_workers = 17   # the one libvirt reads\n"
        "min_workers=3; prio_workers = 4\n"
        "max_clients = 123\n"
        'log_filters = "3:rpc 4:object 1:util.json"\n'
        'unknown_list = [ \'kept\', """as\nit is""" ]\n'
        "max_workers = 17\n"
        "  admin_max_workers = 6\n"
        "admin_min_workers = 2\n"
    )
    check_libvirtd_runs_with(edited)


@pytest.mark.parametrize("source", ["shipped", "empty"])
@pytest.mark.parametrize("binary", ["virtlogd", "virtlockd"])
def test_max_clients_sets_both_limits_of_virtlogd_and_virtlockd(binary, source):
    text = shipped_config(f"{binary}.conf") if source == "shipped" else ""
    if text is None:
        pytest.fail(MISSING.format(name=f"{binary}.conf"))
    with ConfigFileDaemon(set_values(text, SHARED_LIMIT_VALUES), binary=binary) as daemon:
        for server, limit in ((binary, 77), ("admin", 8)):
            limits = witness.client_limits(daemon.uri, server)
            assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (limit, limit)
        assert witness.log_filters(daemon.uri) == "2:*logging* 4:*object*"
        assert witness.log_outputs(daemon.uri) == "3:stderr"


# Files at the edges of virconf's syntax, all with keys libvirtd knows, of the right type.
SYNTAX = [
    "max_workers = 30\nmax_workers = 40\n",  # libvirt reads the first
    "min_workers=2 ; prio_workers = +3 # a comment\n",
    "\n",  # nothing but blanks: refused
    "   ",
    "",
    'note = """a\nb"""\nmax_workers = 25\n',
    'note = """"""',  # a triple quote needs 7 characters to the end: "" then """" here, refused
    'note = """"""\n',
    "note = [1, # a comment\n 2]\nmax_workers = 21\n",  # no comment inside a list
    "note = [\n 1,\n 2,\n]\nmax_workers = 21\n",
    "max_workers = 22;;\n",
    "max_workers = 22\r\nmin_workers = 2\r\n",
    'note = "C:\\dir\\"\nmax_workers = 23\n',  # no escapes: the backslash is not one
    "max_workers = 24 # comment\n  prio_workers = 6\n\n\n",
    "max_workers = 1.5\n",
    "max_workers =\n24\n",
]


@pytest.mark.parametrize("text", SYNTAX)
def test_libvirt_accepts_and_refuses_the_files_the_parser_does(text):
    try:
        values = read_values(text)
    except LibvirtAdminError as error:
        with pytest.raises(DaemonError, match="configuration file syntax error") as refused:
            ConfigFileDaemon(text).start()
        line, complaint = error.message.split(": ", 1)
        assert f"/etc/libvirt/libvirtd.conf:{line.split()[1]}: {complaint}" in str(refused.value)  # the same
        return
    with ConfigFileDaemon(text) as daemon:
        pool = witness.threadpool(daemon.uri, "libvirtd")
        for key, field in (
            ("min_workers", "minWorkers"),
            ("max_workers", "maxWorkers"),
            ("prio_workers", "prioWorkers"),
        ):
            if key in values:
                assert pool[field] == values[key], key
