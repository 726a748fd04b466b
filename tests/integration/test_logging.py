"""libvirt_admin_logging against real daemons, verified with virt-admin and by
the daemon's own log file."""

from __future__ import annotations

import time

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.clients import Clients
from tests.harness.steps import four_steps as steps_of

MODULE = "libvirt_admin_logging"
DEFAULT_OUTPUTS = "3:stderr"  # a sandboxed daemon in the foreground logs to stderr


def logging_state(daemon):
    return witness.log_outputs(daemon.uri), witness.log_filters(daemon.uri)


def four_steps(daemon, args: dict):
    steps = steps_of(MODULE, {"uri": daemon.uri, **args}, lambda: logging_state(daemon))
    assert steps.check["logging"] == steps.apply["logging"] == steps.again["logging"]
    return steps.apply, steps.after


def test_outputs_and_filters_despite_the_daemons_rewriting(daemon):
    apply, after = four_steps(
        daemon,
        {
            "outputs": ["1:file:/var/log/libvirt/../libvirt//debug.log", "3:stderr"],
            "filters": ["1:qemu", "+3:util.object", "4:*"],
        },
    )
    assert after == ("1:file:/var/log/libvirt/debug.log 3:stderr", "1:*qemu* 3:*util.object* 4:***")
    assert apply["logging"] == {
        "outputs": ["1:file:/var/log/libvirt/debug.log", "3:stderr"],
        "filters": ["1:qemu", "3:util.object", "4:*"],
    }
    assert apply["diff"]["before"] == {"outputs": ["3:stderr"], "filters": []}
    assert apply["diff"]["after"] == {
        "outputs": ["1:file:/var/log/libvirt/debug.log", "3:stderr"],
        "filters": ["1:qemu", "3:util.object", "4:*"],
    }


def test_only_filters_leaves_outputs_alone(daemon):
    apply, after = four_steps(daemon, {"filters": ["1:rpc", "3:util"]})
    assert after == (DEFAULT_OUTPUTS, "1:*rpc* 3:*util*")
    assert set(apply["diff"]["before"]) == {"filters"}


def test_filter_order_matters_output_order_does_not(daemon):
    args = {"uri": daemon.uri, "outputs": ["1:file:/var/log/libvirt/a.log", "3:stderr"], "filters": ["1:a", "3:b"]}
    assert run_module(MODULE, args).changed
    swapped_outputs = {**args, "outputs": ["3:stderr", "1:file:/var/log/libvirt/a.log"]}
    assert not run_module(MODULE, swapped_outputs).changed
    swapped_filters = {**args, "filters": ["3:b", "1:a"]}
    assert run_module(MODULE, swapped_filters).changed
    assert witness.log_filters(daemon.uri) == "3:*b* 1:*a*"


def test_empty_filters_clear_them(daemon):
    witness.virt_admin(daemon.uri, "daemon-log-filters", "--filters", "1:qemu 2:rpc")
    four_steps(daemon, {"filters": []})
    assert witness.log_filters(daemon.uri) == ""


def test_debug_filter_and_file_output_act(make_daemon):
    """A debug filter for one part of libvirt and a file output: a real
    client's call logs there; after restoring, nothing more is logged."""
    daemon = make_daemon(drivers=("secret",))
    log_file = daemon.root / "log" / "secret-debug.log"  # /var/log/libvirt/secret-debug.log for the daemon
    debug = {"outputs": ["1:file:/var/log/libvirt/secret-debug.log", "3:stderr"], "filters": ["1:secret", "4:*"]}
    assert run_module(MODULE, {"uri": daemon.uri, **debug}).changed
    with Clients([{"uri": f"secret:///system?socket={daemon.socket}"}]) as client:
        assert client.probe() == [True]  # lists secrets: the daemon runs virConnectListAllSecrets
    lines = log_file.read_text().splitlines()
    assert any(": debug : virConnectListAllSecrets" in line for line in lines), lines

    assert run_module(MODULE, {"uri": daemon.uri, "outputs": ["3:stderr"], "filters": []}).changed
    size = log_file.stat().st_size
    with Clients([{"uri": f"secret:///system?socket={daemon.socket}"}]) as client:
        assert client.probe() == [True]
    time.sleep(0.2)
    assert log_file.stat().st_size == size, "the daemon still logs to the file after restoring"


def test_second_change_fails_first_is_put_back(daemon):
    """The daemon cannot open the file: the filters set first are put back."""
    result = run_module(MODULE, {"uri": daemon.uri, "filters": ["1:rpc"], "outputs": ["1:file:/nonexistent/x.log"]})
    assert result.failed
    assert "failed to open /nonexistent/x.log" in result.msg
    assert "the filters had been changed already and were put back" in result.msg
    assert logging_state(daemon) == (DEFAULT_OUTPUTS, "")


@pytest.mark.parametrize(
    "args, message",
    [
        ({"filters": ["0:qemu"]}, "filters[0] '0:qemu' is not a valid log filter: it must start with a level"),
        ({"filters": ["1:qemu", "5:rpc"]}, "filters[1] '5:rpc' is not a valid log filter"),
        ({"filters": ["1:"]}, "filters[0] '1:' is not a valid log filter: the match after the level is empty"),
        ({"filters": [":foo"]}, "filters[0] ':foo' is not a valid log filter: it must start with a level"),
        ({"filters": ["1:+"]}, "the match after the level is empty"),
        ({"filters": ["1:qemu 3:rpc"]}, "it must be one item, with no spaces"),
        ({"outputs": ["1:file:relative/path"]}, "the file path must be absolute"),
        ({"outputs": ["1:syslog"]}, "syslog needs one field after it"),
        ({"outputs": ["1:printer"]}, "the output type must be stderr, journald, syslog:IDENT or file:PATH"),
        ({"outputs": ["1:stderr:x"]}, "stderr takes nothing after it"),
        ({"outputs": [3]}, "outputs[0] 3 is not a valid log output: it must be a string"),
        ({"filters": [{"level": 1}]}, "filters[0] {'level': 1} is not a valid log filter: it must be a string"),
        ({"outputs": ["1:stderr", "3:stderr"]}, "it logs to the same destination as outputs[0]"),
        ({"outputs": []}, "outputs must not be empty"),
        ({}, "one of the following is required: outputs, filters"),
    ],
)
def test_bad_input_changes_nothing(daemon, args, message):
    witness.virt_admin(daemon.uri, "daemon-log-filters", "--filters", "2:rpc")
    before = logging_state(daemon)
    valid_filter = {"filters": ["1:qemu"]} if args else {}  # a valid part does not go through either
    result = run_module(MODULE, {"uri": daemon.uri, **valid_filter, **args})
    assert result.failed, result
    assert message in result.msg
    assert logging_state(daemon) == before


def test_daemon_gone(daemon):
    daemon.kill()
    result = run_module(MODULE, {"uri": daemon.uri, "filters": ["1:qemu"]})
    assert result.failed
    assert str(daemon.admin_socket) in result.msg and "is the daemon running?" in result.msg
