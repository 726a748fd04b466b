"""Real libvirt daemons for the tests, each in a private mount namespace.

Each daemon sees libvirt's default paths (/run/libvirt, /etc/libvirt,
/var/log/libvirt, /var/lib/libvirt, /var/cache/libvirt), bind-mounted from
a folder of its own, so several run at once without touching a system
daemon; extra_mounts gives it more folders of its own the same way (for
example its own /etc/pki). From outside, its sockets are in <root>/run.
Every daemon is stopped by its pid: by stop(), by the pytest fixture's
finaliser, or at interpreter exit.

Daemon(version="11.3") runs another libvirt unpacked beside the system's
(tests.harness.libvirt_versions; `make setup` fetches it): its binary, with
LD_LIBRARY_PATH on its libraries and its own connection drivers and
storage backends. The default is the system's libvirt.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.libvirt_versions import Libvirt
from tests.harness.ports import listening

# The system libvirt's drivers (a Daemon copies from its version's driver_dir).
DRIVER_SOURCE = Path("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver")
MOUNTED = {
    "run": "/run/libvirt",
    "etc": "/etc/libvirt",
    "log": "/var/log/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
}
# daemon binary -> prefix of its sockets in /run/libvirt
SOCKET_PREFIX = {"libvirtd": "libvirt", "virtproxyd": "libvirt"}

_RUNNING: dict[int, Daemon] = {}


def _stop_all() -> None:
    for daemon in list(_RUNNING.values()):
        daemon.stop()


atexit.register(_stop_all)


class DaemonError(RuntimeError):
    pass


class Daemon:
    """One sandboxed daemon (libvirtd by default)."""

    def __init__(
        self,
        binary: str = "libvirtd",
        config: dict | None = None,
        drivers: tuple = (),
        args: tuple = (),
        extra_mounts: dict | None = None,
        version: str | None = None,
    ) -> None:
        # None: the system's libvirt; "11.3": the one unpacked in .build/libvirt-11.3
        # (LibvirtMissing, saying to run `make setup`, when it is not there).
        self.libvirt = Libvirt.get(version)
        self.binary = binary
        self.config = config or {}
        self.drivers = drivers
        self.args = args  # extra command-line arguments, e.g. ("--listen",)
        # further folders of its own: name under root -> absolute path the daemon sees it at,
        # e.g. {"pki": "/etc/pki"} for the TLS files a root daemon reads
        self.extra_mounts = dict(extra_mounts or {})
        self.root = Path(tempfile.mkdtemp(prefix="lva-", dir="/tmp"))
        self.process: subprocess.Popen | None = None

    # Paths and URIs, as seen from outside the daemon's namespace.
    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def prefix(self) -> str:
        return SOCKET_PREFIX.get(self.binary, self.binary)

    @property
    def admin_socket(self) -> Path:
        return self.run_dir / f"{self.prefix}-admin-sock"

    @property
    def socket(self) -> Path:
        return self.run_dir / f"{self.prefix}-sock"

    @property
    def readonly_socket(self) -> Path:
        return self.run_dir / f"{self.prefix}-sock-ro"

    @property
    def uri(self) -> str:
        """Admin URI reaching this daemon from outside its namespace."""
        return f"{self.binary}:///system?socket={self.admin_socket}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log(self) -> str:
        path = self.root / "daemon.out"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def listeners(self) -> list:
        """(address, port) of the TCP listeners that --listen and its config ask for (on a listen_addr of
        its own): start() waits for them too, opened by this daemon's own process, since the daemon binds
        them after its admin socket and exits when one cannot be bound."""
        if "--listen" not in self.args or "listen_addr" not in self.config:
            return []
        wanted = []
        for flag, key, flag_default, port_default in (
            ("listen_tls", "tls_port", 1, 16514),
            ("listen_tcp", "tcp_port", 0, 16509),
        ):
            if int(self.config.get(flag, flag_default)):
                wanted.append((str(self.config["listen_addr"]), int(self.config.get(key, port_default))))
        return wanted

    @property
    def mounts(self) -> dict:
        """Every folder under root the daemon sees elsewhere: name -> absolute path."""
        return {**MOUNTED, **self.extra_mounts}

    # names of mounts whose target the daemon's namespace makes itself (under an overlay of its own),
    # never in the machine's root
    made_inside: frozenset = frozenset()

    def _prepare(self) -> None:
        for name, target in self.mounts.items():
            (self.root / name).mkdir(exist_ok=True)
            if name not in self.made_inside:
                Path(target).mkdir(parents=True, exist_ok=True)
        lines = []
        for key, value in self.config.items():
            rendered = f'"{value}"' if isinstance(value, str) else str(int(value))
            lines.append(f"{key} = {rendered}")
        config_file = self.root / "etc" / f"{self.binary}.conf"
        if not config_file.exists():  # a restart keeps the file as the tests (or modules) left it
            config_file.write_text("".join(f"{line}\n" for line in lines))
        drivers = self.root / "drivers"
        drivers.mkdir(exist_ok=True)
        for driver in self.drivers:
            shutil.copy(self.libvirt.driver_dir / f"libvirt_driver_{driver}.so", drivers)

    def start(self, timeout: float = 15.0) -> Daemon:
        self._prepare()
        mounts = "; ".join(f"mount --bind {self.root / name} {target}" for name, target in self.mounts.items())
        config, pid_file = f"/etc/libvirt/{self.binary}.conf", f"/run/libvirt/{self.binary}.pid"
        # The system's binary from PATH, as ever; another version's with its libraries.
        daemon = " ".join([self.libvirt.shell_command(self.binary), "-f", config, "--pid-file", pid_file, *self.args])
        script = f"set -e; {mounts}; exec {daemon}"
        env = {**os.environ, "LIBVIRT_DRIVER_DIR": str(self.root / "drivers")}
        if not self.libvirt.system:  # never the system's storage backends: built for another libvirt.so
            env["LIBVIRT_STORAGE_BACKEND_DIR"] = str(self.libvirt.storage_backend_dir)
        env.pop("LIBVIRT_ADMIN_DEFAULT_URI", None)
        with open(self.root / "daemon.out", "wb") as out:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _RUNNING[self.process.pid] = self
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log
                self.stop()
                raise DaemonError(f"{self.binary} exited with {self.process.returncode}: {log}")
            if self._admin_socket_accepts() and self._listeners_up():
                return
            time.sleep(0.02)
        log = self.log
        self.stop()
        raise DaemonError(
            f"{self.binary} did not open {self.admin_socket} and {self.listeners} within {timeout} s: {log}"
        )

    def _listeners_up(self) -> bool:
        wanted = set(self.listeners)
        if not wanted:  # most daemons: no need to read the kernel's table on every poll
            return True
        return wanted <= set(listening({address for address, _port in wanted}, pid=self.pid))

    def _admin_socket_accepts(self) -> bool:
        if not self.admin_socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.admin_socket))
            except OSError:
                return False
        return True

    def restart(self) -> Daemon:
        self.kill()
        return self.start()

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the process by its pid (and its process group), keep the folder."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the daemon and remove its folder."""
        if self.process is not None:
            self.kill()
            _RUNNING.pop(self.process.pid, None)
        shutil.rmtree(self.root, ignore_errors=True)

    def nsenter(self, argv: list) -> list:
        """argv, to be run inside this daemon's mount namespace."""
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", "--", *argv]

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
