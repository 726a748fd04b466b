"""A fleet of libvirt hosts on loopback, reached by Ansible over SSH.

    with Fleet(10, versions={"11.3": [3, 7]}) as fleet:
        results = fleet.ansible("all", "virtops.libvirt_admin.libvirt_admin_server_info")
        fleet["host03"].virt_admin("srv-threadpool-set", "libvirtd", "--max-workers", "30")

Each host is a private mount and UTS namespace (hostname lva-host03 ...),
held open by a `sleep` started with `unshare --mount --uts`, that sees its
own folders at libvirt's default paths (/run/libvirt, /etc/libvirt, ...,
as tests.harness.daemons.Daemon does) and its own /root. Inside it, entered
with nsenter, run the host's libvirtd (default paths: a module run over SSH
on that host reaches it with no uri option) and its sshd, listening on
127.0.0.N:22 with its own host key, key-only root login and UsePAM no. The
fleet generates one ed25519 client key, writes it into every host's
/root/.ssh/authorized_keys, and writes an inventory and an ansible.cfg
(pipelining, ControlPersist with a control path of its own) that env()
points Ansible at.

A host may run another libvirt version (Fleet(versions={"11.3": [2, 5]})):
its libvirtd is that version's, and its ansible_python_interpreter the
wrapper from tests.harness.ansible.interpreter() that loads that version's
libvirt-admin.so.0.

A host may run another Debian release (Fleet(4, releases={"bullseye": [1], "trixie": [2], "sid": [3]});
host04 is the machine's own, bookworm): a ReleaseHost, whose every process (libvirtd, sshd, the
modules, virt_admin()) runs chrooted in an overlay of that release's root (tests.harness.releases,
`make releases`) with the host's own folders mounted over it, so the cached root is never written. Its
modules run with the root's /usr/bin/python3 and libvirt-admin.so.0; host.release names the release
of every host (Release.get("bookworm") is the machine's root, /), and the inventory has a group per
release (release_bullseye ...) and the host variable debian_release.

A host may be containerised (Fleet(2, containerised=[1])): a tests.harness.containerised.ContainerisedHost,
whose sshd and modules run chrooted in a root without libvirt (bookworm-bare) while its libvirtd runs in
a "container" of its own (the trixie root, in a mount namespace of its own), the two sharing /run/libvirt
and the daemon's config file, as kolla-ansible lays out nova_libvirt.

Addresses: each fleet takes 127.0.0.N (N from 2 up) whose lock file in
/tmp/virtops-fleet-<uid>/ it can flock and on which port 22 is free; the
locks are held as long as the fleet lives (and released by the kernel
when its process dies), so the fleets of pytest-xdist workers never
collide.

Teardown is by pid, by Fleet.stop(), the fixtures' finalisers or at
interpreter exit: every process in a host's mount namespace (the holder,
libvirtd, sshd and its per-connection children, modules still running),
then the controller's ssh ControlPersist masters of this fleet (found by
the fleet's folder in their command line). The holder, libvirtd and sshd
also get a parent-death signal, so they go if the Python process that
started them dies without running its exit handlers: start fleets from
a thread that outlives them (the main thread).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import BIN, FQCN, Result, ansible_env, interpreter
from tests.harness.daemons import _RUNNING, Daemon, DaemonError
from tests.harness.libvirt_versions import Libvirt
from tests.harness.ports import bindable, listening, try_lock
from tests.harness.releases import MACHINE, Release, machine_release

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
FIRST_ADDRESS, LAST_ADDRESS = 2, 254  # 127.0.0.N
LOCK_DIR = Path(tempfile.gettempdir()) / f"virtops-fleet-{os.getuid()}"
GROUP = "libvirt_hosts"
SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
SSH_ARGS = (
    "-o ControlMaster=auto -o ControlPersist=120s -o LogLevel=ERROR "
    "-o PreferredAuthentications=publickey -o IdentitiesOnly=yes -o BatchMode=yes"
)

_FLEETS: dict = {}


def _stop_all() -> None:
    for fleet in list(_FLEETS.values()):
        fleet.stop()


atexit.register(_stop_all)


class FleetError(RuntimeError):
    pass


# ---------------------------------------------------------------- processes, by pid


def alive(pid: int) -> bool:
    """pid exists and is not a zombie (killed processes stay <defunct> until a slow reaper gets them)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _executable(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _all_pids() -> list:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pids_in_namespaces(namespaces: set) -> dict:
    """pid -> mount namespace, for every live process in one of namespaces ("mnt:[...]")."""
    found = {}
    for pid in _all_pids():
        namespace = _mount_namespace(pid)
        if namespace in namespaces:
            found[pid] = namespace
    return found


def pids_naming(text: str) -> list:
    """Every process (but this one) whose command line contains text."""
    needle = text.encode()
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if needle in cmdline.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def _signal(pids, sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _kill_and_wait(pids: set, children: list, timeout: float = 10.0) -> None:
    """SIGTERM every pid, reap our children, SIGKILL whatever is still there after timeout."""
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(max(0.0, deadline - time.monotonic()))
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [pid for pid in pids if alive(pid)]
    if left:
        _signal(left, signal.SIGKILL)
        for child in children:
            child.wait()


def _allocate(n: int, port: int) -> list:
    """n free loopback addresses, each with its lock file held: [(address, fd)]. A lock file that
    names a fleet folder is one a fleet whose process died left: reap_stale_fleet() first."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    held = []
    for last in range(FIRST_ADDRESS, LAST_ADDRESS + 1):
        if len(held) == n:
            return held
        address = f"127.0.0.{last}"
        fd = try_lock(LOCK_DIR / f"{address}.lock")
        if fd is None:  # another fleet's
            continue
        stale = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if stale:
            reap_stale_fleet(Path(stale))
            _write_lock(fd, "")
        if not bindable(address, port):  # someone else's listener
            os.close(fd)
            continue
        held.append((address, fd))
    if len(held) == n:
        return held
    for _address, fd in held:
        _write_lock(fd, "")
        os.close(fd)
    why = ""
    if ("0.0.0.0", port) in listening(["0.0.0.0"]):
        why = f": something listens on 0.0.0.0:{port} (a system sshd?), which takes the port on every address"
    raise FleetError(f"only {len(held)} of {n} loopback addresses with port {port} free{why}")


def _write_lock(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


def reap_stale_fleet(root: Path) -> None:
    """Stop by pid what a fleet whose process died without stopping it left (its holders, libvirtds
    and sshds died with it: SSH sessions and ControlPersist masters stay a while), remove its folders.
    A process counts as one of its hosts' only if it runs in one of that host's mount namespaces and sees
    that host's own /root at its /root, or that host's run folder at its /run/libvirt (a containerised
    host's container sees no /root of the host's)."""
    if not root.name.startswith("lva-fleet-"):
        return
    try:
        hosts = json.loads((root / "fleet.json").read_text())["hosts"]
    except (OSError, ValueError, KeyError):
        hosts = []
    pids = set(pids_naming(f"{root}/"))
    for host in hosts:
        marks = {}  # path inside the host -> (dev, ino) of the host's own folder there
        for inside, folder in (("root", "home"), ("run/libvirt", "run")):
            with contextlib.suppress(OSError):
                status = os.stat(Path(host["root"]) / folder)
                marks[inside] = (status.st_dev, status.st_ino)
        for pid in pids_in_namespaces(set(host.get("namespaces") or [host["namespace"]])):
            for inside, mark in marks.items():
                try:
                    seen = os.stat(f"/proc/{pid}/root/{inside}")  # as the process sees it, in its namespace
                except OSError:
                    continue
                if (seen.st_dev, seen.st_ino) == mark:
                    pids.add(pid)
                    break
    _kill_and_wait(pids, [], timeout=5.0)
    for host in hosts:
        if Path(host["root"]).name.startswith("lva-"):
            shutil.rmtree(host["root"], ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


def _pdeathsig(sig: str, argv: list) -> list:
    """argv, killed with sig when the thread that starts it ends."""
    return ["setpriv", f"--pdeathsig={sig}", *argv]


# ---------------------------------------------------------------- one host


class HostDaemon(Daemon):
    """A host's libvirtd: a Daemon run inside its host's namespaces (entered with nsenter)
    instead of in a mount namespace of its own. The host bind-mounts its folders, once;
    stop() stops the daemon and keeps the folder (the host's), so it can be started again."""

    def __init__(self, host: Host, **kwargs) -> None:
        mounts = {"home": "/root"}
        if host.fleet.pki:  # its own /etc/pki, made in the host's overlay of /etc
            mounts["pki"] = "/etc/pki"
            self.made_inside = frozenset({"pki"})
        super().__init__(extra_mounts=mounts, **kwargs)
        self.host = host

    def launch(self) -> None:
        """Start the daemon without waiting for its admin socket (see _wait_ready)."""
        self._prepare()
        for stale in (self.admin_socket, self.socket, self.readonly_socket):
            stale.unlink(missing_ok=True)  # left by a daemon killed hard: not a sign of readiness
        config, pid_file = f"/etc/libvirt/{self.binary}.conf", f"/run/libvirt/{self.binary}.pid"
        daemon = [*self.libvirt.command(self.binary), "-f", config, "--pid-file", pid_file, *self.args]
        env = {**os.environ, "LIBVIRT_DRIVER_DIR": str(self.root / "drivers")}
        if not self.libvirt.system:
            env["LIBVIRT_STORAGE_BACKEND_DIR"] = str(self.libvirt.storage_backend_dir)
        env.pop("LIBVIRT_ADMIN_DEFAULT_URI", None)
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(
                _pdeathsig("TERM", self.host.nsenter(daemon)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _RUNNING[self.process.pid] = self

    def start(self, timeout: float = 15.0) -> HostDaemon:
        self.launch()
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.kill()
            _RUNNING.pop(self.process.pid, None)


class Host:
    """One host of a fleet: its namespaces (held by a `sleep`), its libvirtd and its sshd."""

    def __init__(self, fleet: Fleet, index: int, address: str, version: str | None, daemon_options: dict) -> None:
        self.fleet = fleet
        self.index = index  # 1-based
        self.name = f"host{index:02d}"
        self.hostname = f"lva-{self.name}"
        self.address = address
        self.port = fleet.port
        self.version = version  # None: the default libvirt (the system's, or $VIRTOPS_LIBVIRT_VERSION)
        if not hasattr(self, "release"):  # a ReleaseHost has set its own
            self.release: Release = machine_release()  # the Debian release whose root the host runs in
        self.libvirt = Libvirt.get(version)
        self.interpreter = interpreter(version)
        self.daemon = self._make_daemon(version, daemon_options)
        self.root = self.daemon.root  # run/ etc/ log/ lib/ cache/ home/ (= /root) drivers/ ssh/
        self.holder: subprocess.Popen | None = None
        self.sshd: subprocess.Popen | None = None
        self.namespace: str | None = None  # "mnt:[...]" of the holder

    def _make_daemon(self, version: str | None, daemon_options: dict) -> HostDaemon:
        return HostDaemon(self, version=version, **daemon_options)

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address} {self.release.suite} libvirt {self.libvirt.version}>"

    # Paths and URIs, as seen from outside the host.
    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def ssh_dir_inside(self) -> str:
        """ssh_dir as the host's sshd sees it."""
        return str(self.ssh_dir)

    @property
    def config_file(self) -> Path:
        """The host's /etc/libvirt/libvirtd.conf, from outside."""
        return self.root / "etc" / f"{self.daemon.binary}.conf"

    @property
    def pki_dir(self) -> Path:
        """The host's /etc/pki, from outside (Fleet(pki=True); a ReleaseHost always has one)."""
        return self.root / "pki"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def uri(self) -> str:
        """Admin URI of the host's libvirtd from outside: libvirtd:///system?socket=<root>/run/libvirt-admin-sock."""
        return self.daemon.uri

    @property
    def libvirt_version(self) -> str:
        """X.Y.Z of the host's libvirt."""
        return self.libvirt.version

    @property
    def pid(self) -> int:
        """The namespace holder's pid."""
        assert self.holder is not None
        return self.holder.pid

    def nsenter(self, argv: list) -> list:
        """argv, to be run inside this host's mount and UTS namespaces."""
        return ["nsenter", f"--target={self.pid}", "--mount", "--uts", "--", *argv]

    def run(self, argv: list, **kwargs) -> subprocess.CompletedProcess:
        """Run argv inside the host (as its sshd's sessions run), output captured as text."""
        check = kwargs.pop("check", False)
        options = {"capture_output": True, "text": True, "timeout": 60, **kwargs}
        return subprocess.run(self.nsenter(argv), check=check, **options)

    def virt_admin(self, *args: str) -> str:
        """The witness (the system's virt-admin) against this host's daemon; AssertionError if it fails."""
        return witness.virt_admin(self.uri, *args)

    def own_virt_admin(self, *args: str) -> subprocess.CompletedProcess:
        """The host's libvirt version's own virt-admin, run inside the host with the default URI."""
        return self.run(self.libvirt.command("virt-admin", *args))

    # The host's libvirtd alone.
    def stop_libvirtd(self) -> None:
        """Stop the host's libvirtd (by pid); its sshd and folders stay."""
        self.daemon.stop()

    def start_libvirtd(self, timeout: float = 15.0) -> None:
        """Start the host's libvirtd again, with the config file as it was left."""
        self.daemon.start(timeout)

    def restart_libvirtd(self) -> None:
        self.stop_libvirtd()
        self.start_libvirtd()

    # The host's sshd alone: the host drops off the network and comes back, its libvirtd running on.
    def stop_sshd(self) -> None:
        """Stop the host's sshd and every SSH session it serves (by pid): connections to the host break
        and new ones are refused; its libvirtd and folders stay."""
        sessions = {pid for pid in self.pids() if _executable(pid) == SSHD}
        children = [self.sshd] if self.sshd is not None else []
        sessions.update(child.pid for child in children if child.poll() is None)
        _kill_and_wait(sessions, children)
        self.sshd = None

    def start_sshd(self, timeout: float = 15.0) -> None:
        """Start the host's sshd again (after stop_sshd)."""
        self._launch_sshd()
        self._wait_sshd(timeout)

    @property
    def libvirtd_running(self) -> bool:
        return self.daemon.process is not None and self.daemon.process.poll() is None

    def pids(self) -> list:
        """Every live process inside the host (holder, libvirtd, sshd and its sessions ...)."""
        if self.namespace is None:
            return []
        return sorted(pids_in_namespaces({self.namespace}))

    @property
    def log(self) -> str:
        """The libvirtd's and the sshd's output."""
        parts = []
        for path in (self.root / "daemon.out", self.ssh_dir / "sshd.log", self.root / "holder.err"):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    # Start-up, in phases that the fleet runs for all its hosts at once.
    def _prepare(self, public_key: str) -> subprocess.Popen:
        """Folders, authorized_keys and sshd_config; returns the ssh-keygen making the host key."""
        self.daemon._prepare()
        self.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        self.home.chmod(0o700)
        dot_ssh = self.home / ".ssh"
        dot_ssh.mkdir(mode=0o700, exist_ok=True)
        authorized = dot_ssh / "authorized_keys"
        authorized.write_text(public_key)
        authorized.chmod(0o600)
        (self.ssh_dir / "sshd_config").write_text(
            f"""# Written by tests/harness/fleet.py for {self.name} ({self.hostname})
ListenAddress {self.address}:{self.port}
HostKey {self.ssh_dir_inside}/ssh_host_ed25519_key
PidFile {self.ssh_dir_inside}/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
PermitUserEnvironment no
MaxSessions 100
MaxStartups 100:30:200
LogLevel INFO
Subsystem sftp internal-sftp
"""
        )
        return subprocess.Popen(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                self.hostname,
                "-f",
                str(self.ssh_dir / "ssh_host_ed25519_key"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _mounts(self) -> list:
        """Shell commands the holder runs in the host's new mount namespace."""
        commands = []
        if "pki" in self.daemon.mounts:  # /etc/pki, which the machine may lack: an overlay of /etc makes it
            upper, work = self.root / "etc-upper", self.root / "etc-work"
            upper.mkdir(exist_ok=True)
            work.mkdir(exist_ok=True)
            commands += [
                f"mount -t overlay overlay -o lowerdir=/etc,upperdir={shlex.quote(str(upper))},"
                f"workdir={shlex.quote(str(work))} /etc",
                "mkdir -p /etc/pki",
            ]
        return commands + [
            f"mount --bind {shlex.quote(str(self.root / name))} {shlex.quote(target)}"
            for name, target in self.daemon.mounts.items()
        ]

    def _launch_holder(self) -> None:
        mounts = "; ".join(self._mounts())
        script = f"set -e; {mounts}; hostname {self.hostname}; echo ready; exec sleep infinity"
        with open(self.root / "holder.err", "wb") as err:
            self.holder = subprocess.Popen(
                _pdeathsig("KILL", ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )

    def _wait_holder(self) -> None:
        line = self.holder.stdout.readline()  # EOF (b"") when the script failed
        self.holder.stdout.close()
        if line.strip() != b"ready":
            self.holder.wait(5)
            raise FleetError(f"{self.name}: namespace set-up failed: {(self.root / 'holder.err').read_text()}")
        self.namespace = _mount_namespace(self.pid)

    def _launch_sshd(self) -> None:
        with open(self.ssh_dir / "sshd.out", "wb") as out:
            inside = self.ssh_dir_inside
            sshd = [SSHD, "-D", "-f", f"{inside}/sshd_config", "-E", f"{inside}/sshd.log"]
            self.sshd = subprocess.Popen(
                _pdeathsig("TERM", self.nsenter(sshd)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_sshd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise FleetError(f"{self.name}: sshd exited with {self.sshd.returncode}:\n{self.log}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect((self.address, self.port))
                    return
                except OSError:
                    pass
            time.sleep(0.01)
        raise FleetError(f"{self.name}: sshd did not listen on {self.address}:{self.port} within {timeout} s")

    def manifest(self) -> dict:
        """The host in fleet.json: its folder and the mount namespaces its processes run in."""
        return {"root": str(self.root), "namespace": self.namespace, "namespaces": [self.namespace]}

    def _stop_begin(self) -> tuple:
        """What stopping the host stops: (every pid inside it, our children among them to reap)."""
        pids = set(self.pids())
        children = [process for process in (self.holder, self.sshd, self.daemon.process) if process is not None]
        pids.update(process.pid for process in children if process.poll() is None)
        if self.daemon.process is not None:
            _RUNNING.pop(self.daemon.process.pid, None)
        return pids, children


# ---------------------------------------------------------------- a host of another Debian release

# Where a release host's own state is mounted in its view of the release's root (its processes see these
# paths; from outside they are folders under host.root).
RELEASE_STATE = "/run/virtops"
RELEASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ReleaseLibvirt:
    """A release root's libvirt, in the shape Host uses of tests.harness.libvirt_versions.Libvirt:
    its programs are the root's own, run chrooted (command() gives the argv as seen inside the host)."""

    system = False

    def __init__(self, release: Release) -> None:
        self.release = release
        self.name = release.suite
        self.prefix = release.root
        self.version = release.libvirt_version
        self.driver_dir = release.driver_dir

    def command(self, name: str, *args: str) -> list:
        return [name, *args]

    def shell_command(self, name: str, *args: str) -> str:
        return shlex.join(self.command(name, *args))


class ReleaseHostDaemon(HostDaemon):
    """A release host's libvirtd: the root's own, chrooted in the host's view of that root. Its config
    folder starts as a copy of the root's shipped /etc/libvirt (libvirtd.conf, virtlogd.conf ...), with
    Fleet's config keys appended; LIBVIRT_DRIVER_DIR holds copies of the root's wanted drivers only."""

    def __init__(self, host: ReleaseHost, **kwargs) -> None:
        super().__init__(host, **kwargs)
        self.extra_mounts["pki"] = "/etc/pki"  # its own, for TLS tests (tests.harness.tls.Pki.install_server)
        self.made_inside = frozenset()
        self.libvirt = host.libvirt

    @property
    def config_file(self) -> Path:
        """The daemon's config file, from outside (the host's /etc/libvirt/libvirtd.conf)."""
        return self.root / "etc" / f"{self.binary}.conf"

    def _prepare(self) -> None:
        for name in self.mounts:
            (self.root / name).mkdir(exist_ok=True)  # the targets are the root's (made when it was built)
        config_file = self.config_file
        if not config_file.exists():  # a restart keeps the file as the tests (or modules) left it
            shipped = self.host.release.path("/etc/libvirt")
            shutil.copytree(shipped, self.root / "etc", symlinks=True, dirs_exist_ok=True)
            lines = []
            for key, value in self.config.items():
                rendered = f'"{value}"' if isinstance(value, str) else str(int(value))
                lines.append(f"{key} = {rendered}\n")
            if lines:
                with open(config_file, "a") as stream:
                    stream.write("\n# Added by tests/harness/fleet.py\n" + "".join(lines))
        drivers = self.root / "drivers"
        drivers.mkdir(exist_ok=True)
        for driver in self.drivers:
            shutil.copy(self.libvirt.driver_dir / f"libvirt_driver_{driver}.so", drivers)

    def launch(self) -> None:
        self._prepare()
        for stale in (self.admin_socket, self.socket, self.readonly_socket):
            stale.unlink(missing_ok=True)
        config, pid_file = f"/etc/libvirt/{self.binary}.conf", f"/run/libvirt/{self.binary}.pid"
        daemon = [f"/usr/sbin/{self.binary}", "-f", config, "--pid-file", pid_file, *self.args]
        env = {"LIBVIRT_DRIVER_DIR": f"{RELEASE_STATE}/drivers"}
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(
                _pdeathsig("TERM", self.host.daemon_command(daemon, env)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _RUNNING[self.process.pid] = self


class ReleaseHost(Host):
    """A fleet host of another Debian release (bullseye, trixie, sid: tests.harness.releases): as a Host,
    a mount and UTS namespace of its own with its libvirtd and sshd, but every process of it runs chrooted
    in its view of the release's root, with the root's libvirtd, sshd, python3, libvirt-admin.so.0 and
    virt-admin. That view is an overlay: the cached root (read-only below) and the host's own upper layer,
    with the host's folders mounted over it as on any Host (/run/libvirt, /etc/libvirt copied from the
    root's shipped files, /var/log/libvirt, /var/lib/libvirt, /var/cache/libvirt, /root, /etc/pki) and
    tmpfs on /run and /tmp; so the root is never written and hosts of one release share it.

    Inside the host, root/sysroot is the host's /; ssh/ and drivers/ are at /run/virtops/ssh and
    /run/virtops/drivers. virt_admin() runs the root's virt-admin inside the host."""

    def __init__(self, fleet: Fleet, index: int, address: str, release: Release, daemon_options: dict) -> None:
        self.release = release
        super().__init__(fleet, index, address, "system", daemon_options)
        self.version = release.suite
        self.libvirt = ReleaseLibvirt(release)
        self.daemon.libvirt = self.libvirt
        self.interpreter = "/usr/bin/python3"  # the root's own

    def _make_daemon(self, version: str | None, daemon_options: dict) -> HostDaemon:
        return ReleaseHostDaemon(self, version="system", **daemon_options)  # whatever $VIRTOPS_LIBVIRT_VERSION

    @property
    def sysroot(self) -> Path:
        """The host's / (inside its mount namespace; an empty folder outside it)."""
        return self.root / "sysroot"

    @property
    def ssh_dir_inside(self) -> str:
        return f"{RELEASE_STATE}/ssh"

    def nsenter(self, argv: list, env: dict | None = None) -> list:
        """argv, run inside this host: its mount and UTS namespaces, chrooted in its root, with a clean
        environment (PATH, HOME, LANG, and env)."""
        assignments = [f"{key}={value}" for key, value in {"HOME": "/root", "LANG": "C.UTF-8", **(env or {})}.items()]
        return [
            "nsenter",
            f"--target={self.pid}",
            "--mount",
            "--uts",
            "--",
            "chroot",
            str(self.sysroot),
            "/usr/bin/env",
            "-i",
            f"PATH={RELEASE_PATH}",
            *assignments,
            *argv,
        ]

    def daemon_command(self, argv: list, env: dict) -> list:
        """argv, run where the host's libvirtd runs: inside the host (a containerised host: its container)."""
        return self.nsenter(argv, env)

    def virt_admin(self, *args: str) -> str:
        """The root's own virt-admin, inside the host, with the default URI; AssertionError if it fails."""
        completed = self.run(["virt-admin", *args])
        if completed.returncode != 0:
            raise AssertionError(f"virt-admin {' '.join(args)} failed on {self.name}: {completed.stderr.strip()}")
        return completed.stdout

    def _mounts(self) -> list:
        sysroot = shlex.quote(str(self.sysroot))
        lower = shlex.quote(str(self.release.root))
        for name in ("sysroot", "upper", "work", "ssh", "drivers"):
            (self.root / name).mkdir(exist_ok=True)
        commands = [
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={self.root / 'upper'},workdir={self.root / 'work'} "
            f"{sysroot}",
            f"mount --bind /proc {sysroot}/proc",
            f"mount --rbind /dev {sysroot}/dev",
            f"mount --rbind /sys {sysroot}/sys",
            f"mount -t tmpfs -o mode=755 tmpfs {sysroot}/run",
            f"mount -t tmpfs -o mode=1777 tmpfs {sysroot}/tmp",
            f"mkdir -p {sysroot}/run/sshd {sysroot}{RELEASE_STATE}/ssh {sysroot}{RELEASE_STATE}/drivers",
            f"mount --bind {shlex.quote(str(self.ssh_dir))} {sysroot}{RELEASE_STATE}/ssh",
            f"mount --bind {shlex.quote(str(self.root / 'drivers'))} {sysroot}{RELEASE_STATE}/drivers",
        ]
        for name, target in self.daemon.mounts.items():
            commands.append(f"mkdir -p {sysroot}{target}")
            commands.append(f"mount --bind {shlex.quote(str(self.root / name))} {sysroot}{shlex.quote(target)}")
        return commands


# ---------------------------------------------------------------- the fleet


def _host_versions(n: int, versions) -> list:
    """versions: None, a list of n versions (None: the default), or {version: [host numbers, 1-based]}."""
    if versions is None:
        return [None] * n
    if isinstance(versions, dict):
        chosen = [None] * n
        for version, numbers in versions.items():
            for number in numbers:
                if not 1 <= number <= n:
                    raise ValueError(f"host number {number} for libvirt {version} is not in 1..{n}")
                chosen[number - 1] = version
        return chosen
    chosen = list(versions)
    if len(chosen) != n:
        raise ValueError(f"{len(chosen)} versions for {n} hosts")
    return chosen


def _host_releases(n: int, releases) -> list:
    """releases: None, a list of n suites (None: the machine's), or {suite: [host numbers, 1-based]}:
    a list of n suites (None where not given)."""
    return _host_versions(n, releases)


class Fleet:
    """n hosts on 127.0.0.x, each with its own libvirtd and sshd; a context manager.

    versions: None (every host runs the default libvirt), a list with one version per host
    (None for the default), or {"11.3": [2, 5]} (host02 and host05 run libvirt 11.3).
    releases: likewise, the Debian release each host runs, as tests.harness.releases names them:
    {"bullseye": [1], "trixie": [2], "sid": [3]} makes host01 a ReleaseHost chrooted in the bullseye
    root (libvirt 7.0.0, Python 3.9) ...; the others (or "bookworm") are the machine's own release,
    ordinary Hosts. A host cannot have both a version and another release.
    pki: every host gets its own /etc/pki (host.pki_dir from outside), for TLS tests.
    containerised: host numbers of ContainerisedHosts (tests.harness.containerised): a host without
    libvirt whose libvirtd runs in a "container" of the trixie root, sharing /run/libvirt with it.
    config, drivers, args: for every host's libvirtd, as Daemon takes them."""

    def __init__(
        self,
        n: int,
        versions=None,
        config: dict | None = None,
        drivers: tuple = (),
        args: tuple = (),
        forks: int | None = None,
        port: int = SSH_PORT,
        releases=None,
        pki: bool = False,
        containerised=(),
    ) -> None:
        if n < 1:
            raise ValueError("a fleet has at least one host")
        self.n = n
        self.port = port
        self.forks = forks or n
        self.versions = _host_versions(n, versions)
        suites = _host_releases(n, releases)
        for number, (version, suite) in enumerate(zip(self.versions, suites), start=1):
            if suite not in (None, MACHINE) and version not in (None, "system"):
                raise ValueError(f"host {number} cannot run libvirt {version} and the {suite} release")
            if suite == MACHINE:  # the machine's release as it is: its own libvirt, whatever the default
                self.versions[number - 1] = "system"
        # None: the machine's release; each other release must be built (ReleaseMissing says how if not)
        self.releases = [None if suite in (None, MACHINE) else Release.get(suite) for suite in suites]
        self.daemon_options = {"config": config, "drivers": drivers, "args": args}
        self.pki = pki  # every host its own /etc/pki (ReleaseHosts have one anyway)
        # host numbers (1-based) of containerised hosts (tests.harness.containerised): a host without libvirt
        # whose libvirtd runs in a container of the trixie root
        self.containerised = tuple(containerised)
        for number in self.containerised:
            if not 1 <= number <= n:
                raise ValueError(f"containerised host number {number} is not in 1..{n}")
            if self.releases[number - 1] is not None or self.versions[number - 1] not in (None, "system"):
                raise ValueError(f"host {number} cannot be containerised and run another release or version")
        self.hosts: list = []
        self.root: Path | None = None
        self._locks: list = []
        self.timings: dict = {}  # seconds: "start", "stop"

    # Access.
    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, key) -> Host:
        """fleet["host03"], fleet[2] (0-based, as a list) or fleet["127.0.0.4"]."""
        if isinstance(key, int):
            return self.hosts[key]
        for host in self.hosts:
            if key in (host.name, host.address, host.hostname):
                return host
        raise KeyError(key)

    @property
    def addresses(self) -> list:
        return [host.address for host in self.hosts]

    @property
    def key_path(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def config_path(self) -> Path:
        return self.root / "ansible.cfg"

    @property
    def control_path_dir(self) -> Path:
        return self.root / "cp"

    def group(self, version: str) -> str:
        """The inventory group of the hosts running libvirt version X.Y (e.g. libvirt_11_3)."""
        return "libvirt_" + version.replace(".", "_")

    def release_group(self, suite: str) -> str:
        """The inventory group of the hosts of a Debian release (e.g. release_bullseye)."""
        return "release_" + suite.replace("-", "_")  # a group name has no "-" (bookworm-bare)

    # Start and stop.
    def start(self, timeout: float = 30.0) -> Fleet:
        if id(self) in _FLEETS or self.hosts:
            raise FleetError("a Fleet starts once: make another")
        started = time.monotonic()
        self._locks = _allocate(self.n, self.port)
        self.root = Path(tempfile.mkdtemp(prefix="lva-fleet-", dir="/tmp"))
        _FLEETS[id(self)] = self
        for _address, fd in self._locks:  # for reap_stale_fleet(), should this process die
            _write_lock(fd, f"{self.root}\n")
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - started
        return self

    def _start(self, timeout: float) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        self.control_path_dir.mkdir(mode=0o700)
        keygen = subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"virtops-fleet@{self.root.name}",
                "-f",
                str(self.key_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if keygen.returncode != 0:
            raise FleetError(f"ssh-keygen failed: {keygen.stderr}")
        public_key = self.key_path.with_suffix(".pub").read_text()
        for index, ((address, _fd), version, release) in enumerate(
            zip(self._locks, self.versions, self.releases), start=1
        ):
            if index in self.containerised:
                from tests.harness.containerised import ContainerisedHost  # which imports this module

                self.hosts.append(ContainerisedHost(self, index, address, self.daemon_options))
            elif release is None:
                self.hosts.append(Host(self, index, address, version, self.daemon_options))
            else:
                self.hosts.append(ReleaseHost(self, index, address, release, self.daemon_options))
        host_keygens = [host._prepare(public_key) for host in self.hosts]
        for host in self.hosts:
            host._launch_holder()
        for host, process in zip(self.hosts, host_keygens):
            _out, err = process.communicate(timeout=30)
            if process.returncode != 0:
                raise FleetError(f"{host.name}: ssh-keygen failed: {err.decode(errors='replace')}")
        for host in self.hosts:
            host._wait_holder()
        self.write_manifest()
        for host in self.hosts:
            host.daemon.launch()
            host._launch_sshd()
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            try:
                host.daemon._wait_ready(max(1.0, deadline - time.monotonic()))
            except DaemonError as exc:
                raise FleetError(f"{host.name}: {exc}") from exc
            host._wait_sshd(max(1.0, deadline - time.monotonic()))
        self._write_inventory()
        self._write_config()

    def write_manifest(self) -> None:
        """fleet.json, what reap_stale_fleet() needs should this process die: each host's folder and mount
        namespaces (again whenever a host makes a namespace anew)."""
        manifest = {"pid": os.getpid(), "hosts": [host.manifest() for host in self.hosts]}
        tmp = self.root / ".fleet.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(self.root / "fleet.json")

    def stop(self) -> None:
        """Stop every process of every host and this fleet's ssh masters by pid; remove the folders."""
        if id(self) not in _FLEETS:
            return
        started = time.monotonic()
        pids, children = set(), []
        for host in self.hosts:
            host_pids, host_children = host._stop_begin()
            pids |= host_pids
            children += host_children
        try:
            _kill_and_wait(pids, children)
            if self.root is not None:  # the controller's ControlPersist masters (their servers are gone)
                _kill_and_wait(set(pids_naming(f"{self.root}/")), [], timeout=5.0)
        finally:
            for host in self.hosts:
                shutil.rmtree(host.root, ignore_errors=True)
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            for _address, fd in self._locks:
                _write_lock(fd, "")
                os.close(fd)
            self._locks = []
            _FLEETS.pop(id(self), None)
            self.timings["stop"] = time.monotonic() - started

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def pids(self) -> list:
        """Every live process of the fleet: inside its hosts, and its ssh masters."""
        namespaces = {host.namespace for host in self.hosts if host.namespace}
        return sorted(set(pids_in_namespaces(namespaces)) | set(pids_naming(f"{self.root}/")))

    # Ansible.
    def _write_inventory(self) -> None:
        hosts = {}
        groups: dict = {}
        for host in self.hosts:
            hosts[host.name] = {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "ansible_python_interpreter": host.interpreter,
                "libvirt_version": host.libvirt_version,
                # the host's version's virt-admin (the command module on an 11.3 host inherits the
                # interpreter wrapper's LD_LIBRARY_PATH: the system's virt-admin fails to load there)
                "libvirt_virt_admin": shlex.join(host.libvirt.command("virt-admin")),
                "fleet_hostname": host.hostname,
                "debian_release": host.release.suite,
            }
            release = ".".join(host.libvirt_version.split(".")[:2])
            groups.setdefault(self.group(release), {"hosts": {}})["hosts"][host.name] = None
            groups.setdefault(self.release_group(host.release.suite), {"hosts": {}})["hosts"][host.name] = None
        inventory = {
            "all": {
                "children": {
                    GROUP: {
                        "hosts": hosts,
                        "vars": {
                            "ansible_connection": "ssh",
                            "ansible_user": "root",
                            "ansible_ssh_private_key_file": str(self.key_path),
                            "ansible_ssh_common_args": SSH_COMMON_ARGS,
                        },
                    },
                    **groups,
                }
            }
        }
        # JSON is YAML: no quoting surprises (9.0.0 stays a string).
        self.inventory_path.write_text(json.dumps(inventory, indent=2) + "\n")

    def _write_config(self) -> None:
        self.config_path.write_text(
            f"""# Written by tests/harness/fleet.py
[defaults]
inventory = {self.inventory_path}
forks = {self.forks}
host_key_checking = False
timeout = 30
retry_files_enabled = False
interpreter_python = auto_silent

[ssh_connection]
pipelining = True
ssh_args = {SSH_ARGS}
control_path_dir = {self.control_path_dir}
"""
        )

    def env(self, extra: dict | None = None) -> dict:
        """Environment for ansible / ansible-playbook against this fleet (tests.harness.ansible's, with
        ANSIBLE_CONFIG and ANSIBLE_INVENTORY on this fleet's files; -i is then not needed)."""
        env = ansible_env(
            {
                "ANSIBLE_CONFIG": str(self.config_path),
                "ANSIBLE_INVENTORY": str(self.inventory_path),
                "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_FORKS": str(self.forks),
            }
        )
        env.pop("ANSIBLE_PYTHON_INTERPRETER", None)  # each host's inventory variable says
        env.update(extra or {})
        return env

    def ansible(
        self,
        pattern: str = "all",
        module: str = "ansible.builtin.ping",
        args=None,
        extra_args: list | None = None,
        env: dict | None = None,
    ) -> dict:
        """`ansible PATTERN -m MODULE -a ARGS`: {host name: Result}. A module without a dot is this
        collection's (e.g. "libvirt_admin_server_info"); args a dict (sent as JSON) or a string."""
        if "." not in module:
            module = f"{FQCN}.{module}"
        argv = [str(BIN / "ansible"), pattern, "-m", module]
        if args is not None:
            argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
        completed = subprocess.run(
            [*argv, *(extra_args or [])], capture_output=True, text=True, env=self.env(env), timeout=300, check=False
        )
        try:
            tasks = json.loads(completed.stdout)["tasks"]
        except (ValueError, KeyError) as exc:
            raise AssertionError(
                f"no task results from ansible (rc {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
            ) from exc
        results = {}
        for task in tasks:
            result = Result(task["result"])
            result.stdout, result.stderr, result.rc = completed.stdout, completed.stderr, completed.returncode
            results[task["host"]] = result
        return results

    def playbook(self, playbook, extra_vars: dict | None = None, args: list | None = None, env: dict | None = None):
        """ansible-playbook against this fleet, default callback; returns CompletedProcess."""
        argv = [
            str(BIN / "ansible-playbook"),
            str(playbook),
            *(["-e", json.dumps(extra_vars)] if extra_vars else []),
            *(args or []),
        ]
        run_env = self.env({"ANSIBLE_STDOUT_CALLBACK": "default", **(env or {})})
        return subprocess.run(argv, capture_output=True, text=True, env=run_env, timeout=600, check=False)


# ---------------------------------------------------------------- fixtures


class Fleets:
    """Starts fleets of a test's choosing, stops them all on exit:

    with Fleets() as make:
        fleet = make(10, versions={"11.3": [2, 5]})
    """

    def __init__(self) -> None:
        self.started: list = []

    def __call__(self, n: int, **kwargs) -> Fleet:
        self.started.append(Fleet(n, **kwargs).start())
        return self.started[-1]

    def __enter__(self) -> Fleets:
        return self

    def __exit__(self, *exc_info) -> None:
        for fleet in self.started:
            fleet.stop()


@pytest.fixture
def fleet_factory():
    """fleet_factory(n, versions=..., config=...) starts a fleet; all are stopped after the test.
    To use it, import it into tests/conftest.py (or a test module)."""
    with Fleets() as make:
        yield make
