"""A fleet host whose libvirt runs in a container, as kolla-ansible lays out nova_libvirt.

    with Fleet(2, containerised=[1], drivers=("secret",)) as fleet:
        host = fleet["host01"]                       # a ContainerisedHost; host02 an ordinary Host
        host.virt_admin("srv-threadpool-info", "libvirtd")   # the container's virt-admin
        host.restart_container()                     # new mounts, the daemon reads its config again

Two roots, two mount namespaces, one /run/libvirt:

- The host: a mount and UTS namespace (held by a `sleep`, as every fleet Host) chrooted in an overlay of
  the bookworm-bare root (tests.harness.releases: python3 and openssh-server, no libvirt package, so no
  libvirt-admin.so.0, libvirt.so.0, virt-admin or virsh anywhere in it). Its sshd serves the fleet host;
  its /usr/bin/python3 runs the modules. It sees /run/libvirt (the shared folder, root/run) and
  /etc/kolla/nova-libvirt/ (root/kolla, holding libvirtd.conf), and its own /root.
- The "container": a mount namespace of its own (held by a second `sleep`), in the host's UTS namespace
  and, as kolla's `pid_mode: host`, in the machine's pid namespace; chrooted in an overlay of the trixie
  root (libvirt 11.3: its libvirtd, virt-admin, virsh, virtlogd). Its /run/libvirt is the same folder
  (kolla shares all of /run; the modules use /run/libvirt only); its /etc/libvirt is a copy of trixie's
  shipped files, with /etc/libvirt/libvirtd.conf bind-mounted from the host's
  /etc/kolla/nova-libvirt/libvirtd.conf: one file, seen by both. Its /var/log/libvirt, /var/lib/libvirt,
  /var/cache/libvirt and /etc/pki are folders of the host's (root/log ...), LIBVIRT_DRIVER_DIR holds
  the drivers the fleet asks for (copies of trixie's).

A bind-mounted file is bound to its inode: a tool that replaces the file (a new file renamed over it, as
persist does) changes what the host sees, while the running container keeps seeing the old file until
its mounts are made again. restart_container() does what `docker restart nova_libvirt` does: every process
of the container stopped by pid, a new mount namespace with the mounts made afresh, libvirtd started;
the container's upper layer is kept (as a restart keeps a container's layer). The witness, virt_admin(),
is the container's own virt-admin, run inside it (nsenter + chroot), never anything on the host.

Both roots are overlays' lower layers: the cached roots are never written. Every process (both holders,
libvirtd, sshd, whatever runs inside either namespace) is stopped by its pid with the fleet.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from tests.harness.daemons import _RUNNING
from tests.harness.fleet import (
    RELEASE_PATH,
    RELEASE_STATE,
    FleetError,
    ReleaseHost,
    ReleaseHostDaemon,
    ReleaseLibvirt,
    _kill_and_wait,
    _mount_namespace,
    _pdeathsig,
    pids_in_namespaces,
)
from tests.harness.releases import BARE, Release

CONTAINER_RELEASE = "trixie"
# The host's folder of the daemon's config, as kolla-ansible's (its config.json copies it into the container).
KOLLA_CONFIG_DIR = "/etc/kolla/nova-libvirt"


class ContainerDaemon(ReleaseHostDaemon):
    """The container's libvirtd: the trixie root's, run inside the container. Its config file is the host's
    /etc/kolla/nova-libvirt/libvirtd.conf (root/kolla/libvirtd.conf), trixie's shipped libvirtd.conf at first
    with the fleet's config keys appended; the rest of its /etc/libvirt is a copy of trixie's shipped files."""

    @property
    def config_file(self) -> Path:
        return self.root / "kolla" / f"{self.binary}.conf"

    def _prepare(self) -> None:
        for name in (*self.mounts, "kolla", "drivers"):
            (self.root / name).mkdir(exist_ok=True)
        shipped = self.host.container_release.path("/etc/libvirt")
        etc = self.root / "etc"
        if not any(etc.iterdir()):
            shutil.copytree(shipped, etc, symlinks=True, dirs_exist_ok=True)
        if not self.config_file.exists():  # a restart keeps the file as the tests (or modules) left it
            lines = []
            for key, value in self.config.items():
                rendered = f'"{value}"' if isinstance(value, str) else str(int(value))
                lines.append(f"{key} = {rendered}\n")
            text = (shipped / f"{self.binary}.conf").read_text()
            if lines:
                text += "\n# Added by tests/harness/containerised.py\n" + "".join(lines)
            self.config_file.write_text(text)
        for driver in self.drivers:
            shutil.copy(self.libvirt.driver_dir / f"libvirt_driver_{driver}.so", self.root / "drivers")


class ContainerisedHost(ReleaseHost):
    """A fleet host without libvirt whose libvirtd runs in a container (see the module's docstring).

    host.release is the host's root (bookworm-bare), host.container_release the container's (trixie);
    host.libvirt and host.libvirt_version are the container's libvirt. nsenter() and run() run inside the
    host (as its sshd's sessions do), in_container() and run_in_container() inside the container;
    virt_admin() and own_virt_admin() are the container's virt-admin."""

    def __init__(self, fleet, index: int, address: str, daemon_options: dict) -> None:
        self.container_release = Release.get(CONTAINER_RELEASE)
        self.container_holder: subprocess.Popen | None = None
        self.container_namespace: str | None = None  # "mnt:[...]" of the container's holder
        super().__init__(fleet, index, address, Release.get(BARE), daemon_options)
        self.version = f"{self.release.suite}+{self.container_release.suite}"
        self.libvirt = ReleaseLibvirt(self.container_release)
        self.daemon.libvirt = self.libvirt

    def _make_daemon(self, version: str | None, daemon_options: dict):
        return ContainerDaemon(self, version="system", **daemon_options)

    def __repr__(self) -> str:
        return (
            f"<ContainerisedHost {self.name} {self.address} {self.release.suite}, "
            f"container {self.container_release.suite} libvirt {self.libvirt.version}>"
        )

    # Paths, from outside.
    @property
    def kolla_dir(self) -> Path:
        """The host's /etc/kolla/nova-libvirt."""
        return self.root / "kolla"

    @property
    def config_file(self) -> Path:
        """The host's /etc/kolla/nova-libvirt/libvirtd.conf, which is the container's /etc/libvirt/libvirtd.conf."""
        return self.daemon.config_file

    @property
    def config_file_inside(self) -> str:
        """config_file as the host's processes (the modules) see it."""
        return f"{KOLLA_CONFIG_DIR}/{self.daemon.binary}.conf"

    @property
    def container_root(self) -> Path:
        """The container's / (inside the container's mount namespace; an empty folder elsewhere)."""
        return self.root / "container"

    # Running things.
    def in_container(self, argv: list, env: dict | None = None) -> list:
        """argv, run inside the container (its mount namespace, the host's UTS namespace, chrooted in its root)
        with a clean environment, as `docker exec nova_libvirt` would run it."""
        if self.container_holder is None:
            raise FleetError(f"{self.name}: the container is not running")
        assignments = [f"{key}={value}" for key, value in {"HOME": "/root", "LANG": "C.UTF-8", **(env or {})}.items()]
        return [
            "nsenter",
            f"--target={self.container_holder.pid}",
            "--mount",
            "--uts",
            "--",
            "chroot",
            str(self.container_root),
            "/usr/bin/env",
            "-i",
            f"PATH={RELEASE_PATH}",
            *assignments,
            *argv,
        ]

    def run_in_container(self, argv: list, **kwargs) -> subprocess.CompletedProcess:
        check = kwargs.pop("check", False)
        options = {"capture_output": True, "text": True, "timeout": 60, **kwargs}
        return subprocess.run(self.in_container(argv), check=check, **options)

    def daemon_command(self, argv: list, env: dict) -> list:
        return self.in_container(argv, env)

    def virt_admin(self, *args: str) -> str:
        """The container's virt-admin, inside the container, with the default URI; AssertionError if it fails."""
        completed = self.run_in_container(["virt-admin", *args])
        if completed.returncode != 0:
            raise AssertionError(f"virt-admin {' '.join(args)} failed in {self.name}'s container: {completed.stderr}")
        return completed.stdout

    def own_virt_admin(self, *args: str) -> subprocess.CompletedProcess:
        return self.run_in_container(["virt-admin", *args])

    # The host's namespace.
    def _mounts(self) -> list:
        sysroot = shlex.quote(str(self.sysroot))
        lower = shlex.quote(str(self.release.root))
        for name in ("sysroot", "upper", "work", "ssh", "kolla"):
            (self.root / name).mkdir(exist_ok=True)
        binds = {"ssh": f"{RELEASE_STATE}/ssh", "run": "/run/libvirt", "kolla": KOLLA_CONFIG_DIR, "home": "/root"}
        commands = [
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={self.root / 'upper'},workdir={self.root / 'work'} "
            f"{sysroot}",
            f"mount --bind /proc {sysroot}/proc",
            f"mount --rbind /dev {sysroot}/dev",
            f"mount --rbind /sys {sysroot}/sys",
            f"mount -t tmpfs -o mode=755 tmpfs {sysroot}/run",
            f"mount -t tmpfs -o mode=1777 tmpfs {sysroot}/tmp",
            f"mkdir -p {sysroot}/run/sshd",
        ]
        for name, target in binds.items():
            commands.append(f"mkdir -p {sysroot}{target}")
            commands.append(f"mount --bind {shlex.quote(str(self.root / name))} {sysroot}{shlex.quote(target)}")
        return commands

    def _wait_holder(self) -> None:
        super()._wait_holder()
        self.start_container()

    # The container.
    def _container_mounts(self) -> list:
        root = shlex.quote(str(self.container_root))
        lower = shlex.quote(str(self.container_release.root))
        upper, work = self.root / "container-upper", self.root / "container-work"
        for folder in (self.container_root, upper, work):
            folder.mkdir(exist_ok=True)
        commands = [
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} {root}",
            f"mount --bind /proc {root}/proc",
            f"mount --rbind /dev {root}/dev",
            f"mount --rbind /sys {root}/sys",
            f"mount -t tmpfs -o mode=755 tmpfs {root}/run",
            f"mount -t tmpfs -o mode=1777 tmpfs {root}/tmp",
        ]
        binds = {name: target for name, target in self.daemon.mounts.items() if name != "home"}
        binds["drivers"] = f"{RELEASE_STATE}/drivers"
        for name, target in binds.items():
            commands.append(f"mkdir -p {root}{target}")
            commands.append(f"mount --bind {shlex.quote(str(self.root / name))} {root}{shlex.quote(target)}")
        # last, over the copy in /etc/libvirt: the host's file itself
        config = f"/etc/libvirt/{self.daemon.binary}.conf"
        commands.append(f"mount --bind {shlex.quote(str(self.config_file))} {root}{config}")
        return commands

    def start_container(self) -> None:
        """The container's namespace and mounts (not its libvirtd: the fleet, or restart_container(), starts it)."""
        self.daemon._prepare()  # the copy of /etc/libvirt and the config file the mounts bind
        script = "set -e; " + "; ".join(self._container_mounts()) + "; echo ready; exec sleep infinity"
        unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        with open(self.root / "container.err", "ab") as err:
            self.container_holder = subprocess.Popen(
                _pdeathsig("KILL", ["nsenter", f"--target={self.pid}", "--uts", "--", *unshare]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        line = self.container_holder.stdout.readline()
        self.container_holder.stdout.close()
        if line.strip() != b"ready":
            self.container_holder.wait(5)
            raise FleetError(f"{self.name}: the container's set-up failed: {(self.root / 'container.err').read_text()}")
        self.container_namespace = _mount_namespace(self.container_holder.pid)

    def container_pids(self) -> list:
        """Every live process inside the container (its holder, libvirtd, clients ...)."""
        if self.container_namespace is None:
            return []
        return sorted(pids_in_namespaces({self.container_namespace}))

    def stop_container(self) -> None:
        """Every process of the container, by pid (libvirtd first, as the fleet started it), then its holder."""
        self.stop_libvirtd()
        holder = [self.container_holder] if self.container_holder is not None else []
        pids = set(self.container_pids()) | {process.pid for process in holder if process.poll() is None}
        _kill_and_wait(pids, holder)
        self.container_holder = None

    def restart_container(self, timeout: float = 15.0) -> None:
        """As `docker restart`: stop everything in the container, make its namespace and mounts again (the
        config file bound afresh), start libvirtd and wait for its admin socket. From the main thread (the
        holder and the daemon get a parent-death signal when the starting thread ends)."""
        self.stop_container()
        self.start_container()
        self.fleet.write_manifest()
        self.daemon.start(timeout)

    def pids(self) -> list:
        return sorted(set(super().pids()) | set(self.container_pids()))

    def manifest(self) -> dict:
        return {**super().manifest(), "namespaces": [self.namespace, self.container_namespace]}

    def _stop_begin(self) -> tuple:
        pids, children = super()._stop_begin()  # self.pids(): the container's processes too
        if self.container_holder is not None:
            children.append(self.container_holder)
            if self.container_holder.poll() is None:
                pids.add(self.container_holder.pid)
        if self.daemon.process is not None:
            _RUNNING.pop(self.daemon.process.pid, None)
        return pids, children
