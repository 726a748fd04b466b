"""The enforce playbook (role virtops.libvirt_admin.daemon_state) over a real fleet: ten SSH hosts on
loopback (tests/harness/fleet.py), host03 and host07 on libvirt 11.3, the others on the system's, each
with its own libvirtd; and the role's molecule scenario `fleet` over three such hosts.

The declared state is per host (host_vars files beside a copy of the fleet's inventory), so that one
host's values showing up on another would be seen. Every state is read with virt-admin (the witness,
against each host's daemon from outside), never with the collection's modules. Each test first puts
every daemon into the state it starts from with virt-admin, so the tests share one fleet but not an
order; one ansible-playbook run over the ten hosts costs several seconds, so each test runs few.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.harness import witness
from tests.harness.fleet import Fleet
from tests.harness.libvirt_versions import Libvirt, system_version
from tests.harness.molecule import run_scenario

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

N = 10
NEWER = "11.3"
NEWER_HOSTS = (3, 7)
ENFORCE = "virtops.libvirt_admin.enforce"
# The hosts log in as root: no become.
ENFORCE_ARGS = ["-e", "libvirt_admin_hosts=libvirt_hosts", "-e", "libvirt_admin_become=false"]
LOG_FILE = "/var/log/libvirt/libvirtd.log"  # inside each host: its own
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def fleet():
    # "system" rather than None: the same mix under VIRTOPS_LIBVIRT_VERSION=11.3 too
    versions = [NEWER if number in NEWER_HOSTS else "system" for number in range(1, N + 1)]
    with Fleet(N, versions=versions) as running:
        yield running


# ---------------------------------------------------------------- declared and observed state


def declared(host, max_workers: int | None = None) -> dict:
    """The daemon entry a host declares (values of its own: 30 + host number workers, ...)."""
    return {
        "daemon": "libvirtd",
        "servers": {
            "libvirtd": {
                "min_workers": 3,
                "max_workers": max_workers or 30 + host.index,
                "prio_workers": 4 + host.index % 3,
                "max_clients": 300 + host.index,
                "max_unauth_clients": 25,
            },
            "admin": {"max_workers": 7},
        },
        "logging": {"outputs": [f"3:file:{LOG_FILE}"], "filters": ["3:remote", f"{1 + host.index % 4}:rpc"]},
    }


# What each daemon starts from: libvirtd's defaults here, every value unlike the declared ones.
BASELINE = {
    "servers": {
        "libvirtd": {
            "min_workers": 5,
            "max_workers": 20,
            "prio_workers": 5,
            "max_clients": 5000,
            "max_unauth_clients": 20,
        },
        "admin": {"max_workers": 20},
    },
    "logging": {"outputs": ["3:stderr"], "filters": []},
}


POOL_FLAGS = {"min_workers": "--min-workers", "max_workers": "--max-workers", "prio_workers": "--priority-workers"}
LIMIT_FLAGS = {"max_clients": "--max-clients", "max_unauth_clients": "--max-unauth-clients"}
# One virt-admin process per host and step (`virt-admin -c URI "cmd; cmd; ..."`): one process per command
# cost this file a third of its run time on a loaded machine.
READ = "; ".join(
    [
        "srv-threadpool-info libvirtd",
        "srv-clients-info libvirtd",
        "srv-threadpool-info admin",
        "daemon-log-outputs",
        "daemon-log-filters",
    ]
)


def put(host, state: dict) -> None:
    """Set a host's daemon to state (declared()'s form) with virt-admin, from outside. virt-admin's exit
    status is its last command's: reset() reads the state back."""
    commands = []
    for server, settings in state["servers"].items():
        for verb, flags in (("srv-threadpool-set", POOL_FLAGS), ("srv-clients-set", LIMIT_FLAGS)):
            args = [f"{flag} {settings[key]}" for key, flag in flags.items() if key in settings]
            if args:
                commands.append(" ".join([verb, server, *args]))
    for kind in ("outputs", "filters"):
        commands.append(f"daemon-log-{kind} --{kind} '{' '.join(state['logging'][kind])}'")
    host.virt_admin("; ".join(commands))


def observed(host) -> dict:
    """A host's daemon as virt-admin reads it, in declared()'s form (the settings declared() names)."""
    pools, limits, logging = [], {}, {}
    for line in host.virt_admin(READ).splitlines():
        key, _colon, value = (part.strip() for part in line.partition(":"))
        if key == "minWorkers":  # srv-threadpool-info libvirtd's first line, then admin's
            pools.append({})
        if key in ("minWorkers", "maxWorkers", "prioWorkers"):
            pools[-1][key] = int(value)
        elif key in ("nclients_max", "nclients_unauth_max"):
            limits[key] = int(value)
        elif key in ("Logging outputs", "Logging filters"):
            logging[key.split()[1]] = value.split()
    libvirtd, admin = pools
    return {
        "servers": {
            "libvirtd": {
                "min_workers": libvirtd["minWorkers"],
                "max_workers": libvirtd["maxWorkers"],
                "prio_workers": libvirtd["prioWorkers"],
                "max_clients": limits["nclients_max"],
                "max_unauth_clients": limits["nclients_unauth_max"],
            },
            "admin": {"max_workers": admin["maxWorkers"]},
        },
        "logging": {
            "outputs": logging["outputs"],
            # the daemon stores 1:rpc as 1:*rpc*
            "filters": [re.sub(r"^(\d+):\*?(.*?)\*?$", r"\1:\2", item) for item in logging["filters"]],
        },
    }


def expected(state: dict) -> dict:
    """observed()'s form of a declared entry."""
    return {"servers": state["servers"], "logging": state["logging"]}


def on_every_host(fleet, function) -> dict:
    """{host name: function(host)}, the hosts at once (each virt-admin call is a process of its own)."""
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        return dict(zip([host.name for host in fleet], pool.map(function, fleet)))


def reset(fleet, states: dict | None = None) -> None:
    """Every host's daemon to states[host name] (default: BASELINE), checked with virt-admin."""
    states = states or {host.name: BASELINE for host in fleet}
    on_every_host(fleet, lambda host: put(host, states[host.name]))
    assert on_every_host(fleet, observed) == {name: expected(state) for name, state in states.items()}


# ---------------------------------------------------------------- inventory and runs


class Inventory:
    """A copy of the fleet's inventory in a folder of its own, with host_vars / group_vars files."""

    def __init__(self, fleet, folder) -> None:
        self.fleet = fleet
        self.folder = folder
        folder.mkdir()
        shutil.copy(fleet.inventory_path, folder / "hosts.yml")

    def declare(self, kind: str, name: str, variables: dict) -> None:
        """Write host_vars/<name>.yml or group_vars/<name>.yml."""
        (self.folder / kind).mkdir(exist_ok=True)
        (self.folder / kind / f"{name}.yml").write_text(yaml.safe_dump(variables, sort_keys=False))

    def declare_hosts(self, states: dict) -> None:
        for name, state in states.items():
            self.declare("host_vars", name, {"libvirt_admin_daemons": [state]})

    def enforce(self, *args: str) -> subprocess.CompletedProcess:
        return self.fleet.playbook(ENFORCE, args=[*ENFORCE_ARGS, *args], env={"ANSIBLE_INVENTORY": str(self.folder)})


@pytest.fixture
def inventory(fleet, tmp_path) -> Inventory:
    return Inventory(fleet, tmp_path / "inventory")


def recap(completed: subprocess.CompletedProcess, fleet) -> dict:
    """PLAY RECAP: {host: {"ok": n, "changed": n, "unreachable": n, "failed": n}}, every host of the fleet."""
    found = {
        match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed")}
        for match in RECAP.finditer(completed.stdout)
    }
    assert sorted(found) == sorted(host.name for host in fleet), completed.stdout + completed.stderr
    return found


def counts(completed, fleet, key: str) -> dict:
    return {name: row[key] for name, row in recap(completed, fleet).items()}


def everywhere(fleet, value) -> dict:
    return {host.name: value for host in fleet}


# ---------------------------------------------------------------- the fleet


def test_enforce_changes_every_host_then_nothing(fleet, inventory):
    reset(fleet)
    states = {host.name: declared(host) for host in fleet}
    inventory.declare_hosts(states)

    first = inventory.enforce()
    assert first.returncode == 0, first.stdout + first.stderr
    assert counts(first, fleet, "changed") == everywhere(fleet, 1), first.stdout
    assert counts(first, fleet, "failed") == everywhere(fleet, 0), first.stdout
    assert on_every_host(fleet, observed) == {name: expected(state) for name, state in states.items()}

    again = inventory.enforce()
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts(again, fleet, "changed") == everywhere(fleet, 0), again.stdout
    assert counts(again, fleet, "failed") == everywhere(fleet, 0), again.stdout
    assert on_every_host(fleet, observed) == {name: expected(state) for name, state in states.items()}


def test_drift_on_one_host_changes_that_host_only(fleet, inventory):
    states = {host.name: declared(host) for host in fleet}
    reset(fleet, states)  # every host as declared, set with virt-admin
    inventory.declare_hosts(states)
    drifted = fleet["host06"]
    drifted.virt_admin("srv-threadpool-set", "libvirtd", "--max-workers", "64")
    drifted.virt_admin("daemon-log-filters", "--filters", "1:qemu")
    assert witness.settings(drifted.uri, "libvirtd")[1] == 64

    completed = inventory.enforce("--diff")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    changed = counts(completed, fleet, "changed")
    assert changed == {**everywhere(fleet, 0), drifted.name: 1}, completed.stdout
    assert '-            "max_workers": 64,' in completed.stdout, completed.stdout
    assert on_every_host(fleet, observed) == {name: expected(state) for name, state in states.items()}


def test_check_mode_over_the_fleet_changes_nothing(fleet, inventory):
    reset(fleet)
    inventory.declare_hosts({host.name: declared(host) for host in fleet})

    completed = inventory.enforce("--check", "--diff")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert counts(completed, fleet, "changed") == everywhere(fleet, 1), completed.stdout
    for host in fleet:  # each host's own diff
        assert f'+            "max_workers": {30 + host.index},' in completed.stdout, completed.stdout
    assert on_every_host(fleet, observed) == everywhere(fleet, expected(BASELINE))


def test_a_host_whose_daemon_is_stopped_fails_alone(fleet, inventory):
    reset(fleet)
    states = {host.name: declared(host) for host in fleet}
    inventory.declare_hosts(states)
    down = fleet["host05"]
    down.stop_libvirtd()
    try:
        assert not down.libvirtd_running
        completed = inventory.enforce()
    finally:
        down.start_libvirtd()
    assert completed.returncode == 2, completed.stdout + completed.stderr
    failed = counts(completed, fleet, "failed")
    assert failed == {**everywhere(fleet, 0), down.name: 1}, completed.stdout
    assert counts(completed, fleet, "changed") == {**everywhere(fleet, 1), down.name: 0}, completed.stdout
    # Its message names the host's admin socket, in that host.
    lines = [line for line in completed.stdout.splitlines() if line.startswith(f"failed: [{down.name}]")]
    assert len(lines) == 1, completed.stdout
    message = json.loads(lines[0].split(" => ", 1)[1])["msg"]
    assert "/run/libvirt/libvirt-admin-sock" in message, message
    assert "libvirtd" in message, message
    others = [host for host in fleet if host is not down]
    assert on_every_host(others, observed) == {host.name: expected(states[host.name]) for host in others}


def test_a_mixed_fleet_converges_each_version_to_its_groups_state(fleet, inventory):
    """The fleet's version groups (libvirt_9_0, libvirt_11_3) declare different states; the 11.3 hosts
    run 11.3's libvirtd, and the modules there load 11.3's libvirt-admin.so.0."""
    reset(fleet)
    by_group: dict = {}
    for host in fleet:
        release = ".".join(host.libvirt_version.split(".")[:2])
        by_group.setdefault(fleet.group(release), []).append(host)
    newer, older = fleet.group(NEWER), fleet.group(".".join(system_version().split(".")[:2]))
    assert sorted(host.index for host in by_group[newer]) == list(NEWER_HOSTS)
    assert sorted(by_group) == sorted([newer, older])
    group_state = {
        newer: {**declared(fleet[0], max_workers=48), "logging": {"outputs": ["2:stderr"], "filters": ["1:qemu"]}},
        older: declared(fleet[0], max_workers=24),
    }
    for group, state in group_state.items():
        inventory.declare("group_vars", group, {"libvirt_admin_daemons": [state]})

    completed = inventory.enforce()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert counts(completed, fleet, "changed") == everywhere(fleet, 1), completed.stdout
    want = {host.name: expected(group_state[group]) for group, hosts in by_group.items() for host in hosts}
    assert on_every_host(fleet, observed) == want
    versions = on_every_host(fleet, lambda host: witness.daemon_version(host.uri))
    newer_version = Libvirt.get(NEWER).version
    assert versions == {host.name: newer_version if host.index in NEWER_HOSTS else system_version() for host in fleet}


# ---------------------------------------------------------------- the role's molecule scenario `fleet`


def test_molecule_fleet_scenario(make_fleet):
    """syntax, check, converge, idempotence and verify (virt-admin on each host) over three SSH hosts,
    host02 on libvirt 11.3; the inventory is the fleet's (MOLECULE_FLEET_INVENTORY)."""
    small = make_fleet(3, versions=["system", NEWER, "system"])
    run_scenario(
        "fleet",
        {
            "MOLECULE_FLEET_INVENTORY": str(small.inventory_path),
            # the fleet's ssh masters, where its teardown finds them
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(small.control_path_dir),
            "ANSIBLE_CONFIG": None,
            "ANSIBLE_INVENTORY": None,
        },
    )
    for host in small:  # and from outside, with the witness
        assert witness.settings(host.uri, "libvirtd") == (4, 36, 7)
        assert witness.log_filters(host.uri).split() == ["3:*remote*", "4:*event*", "1:*rpc*"]
    assert witness.daemon_version(small["host02"].uri) == Libvirt.get(NEWER).version
