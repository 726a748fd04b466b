"""Root filesystems of other Debian releases, for fleet hosts that run those releases' libvirt.

    python3 -m tests.harness.releases build            # what `make releases` runs: every suite
    python3 -m tests.harness.releases build sid        # one
    python3 -m tests.harness.releases check            # are they there, current and complete?

| suite         | libvirt | Python | root                                                        |
|---------------|---------|--------|-------------------------------------------------------------|
| bullseye      | 7.0.0   | 3.9    | built here                                                  |
| bookworm      | 9.0.0   | 3.11   | the machine's own / (the fleet's ordinary Host)             |
| trixie        | 11.3.0  | 3.13   | built here                                                  |
| sid           | 12.8.0  | 3.14   | built here                                                  |
| bookworm-bare | none    | 3.11   | built here: python3 and sshd, no libvirt at all (the host   |
|               |         |        | side of a containerised libvirt: tests.harness.containerised) |

A root is built once per machine, outside any checkout, in $VIRTOPS_RELEASES_DIR
(default /var/cache/virtops-releases): <suite> is a symlink to <suite>-<recipe hash>/,
whose .virtops-release.json (the stamp) records the recipe's hash, the versions found in
the root, the build time and the size. A build runs only when the suite has no root or
its recipe (SUITES below and the scripts of this file that make a root) changed; it
builds into a .tmp folder, writes the stamp last, renames the folder and then swaps the
symlink, so an interrupted build never leaves a root that counts as done (the next build
removes the leftovers). Builds of one suite are serialised by a lock file.

The recipe: `debootstrap --variant=minbase SUITE DIR MIRROR` (MIRROR: the machine's Debian
mirror, from /etc/apt/sources.list*), then inside the root (`unshare --mount --pid --fork`,
chroot, a fresh /proc, /dev bind-mounted, tmpfs on /run and /tmp, usr/sbin/policy-rc.d
exiting 101 so that no package starts a service) `apt-get install --no-install-recommends`
of the suite's packages: python3, openssh-server, libvirtd, virt-admin, virsh, virtlogd,
virtlockd and the secret and storage drivers. libvirtd.conf, virtlogd.conf and virtlockd.conf
ship in those packages from 11.x on; bullseye ships them in libvirt-daemon-system, which
depends on polkit, iptables, the network config ... : it is downloaded and only its
/etc/libvirt is unpacked into the root. apt's cache and lists are removed afterwards, and
the folders a fleet host mounts its own state on are made. Nothing of the machine's root
is changed (debootstrap runs in a mount namespace of its own too).

Measured on this machine (2 cores, Debian's mirror as the machine's apt reaches it; bullseye and
trixie built at once, then sid), the size with du once apt's cache and lists were removed:

| suite    | debootstrap | apt-get install | total  | size (du -s) | packages |
|----------|-------------|-----------------|--------|--------------|----------|
| bullseye | 38.7 s      | 15.2 s          | 53.9 s | 267 MB       | 157      |
| trixie   | 30.8 s      | 14.6 s          | 45.4 s | 255 MB       | 182      |
| sid      | 21.5 s      | 18.2 s          | 39.7 s | 264 MB       | 181      |

bookworm-bare (the machine's release, python3 and openssh-server only, no libvirt package): 155.4 s
(debootstrap 117.0 s on a busy mirror, apt-get install 38.4 s), 194 MB. Its check makes sure libvirt is
absent, not just empty: no file named libvirt*.so*, libvirtd, virt-admin or virsh anywhere in the root and
no libvirt0 or libvirt-clients package; its /usr/bin/python3 fails to load libvirt-admin.so.0 ("cannot
open shared object file").

(trixie's and sid's libvirt-daemon-common depends on polkitd, which brings dbus and systemd: unused,
nothing starts them; bullseye's libvirt-daemon brings its QEMU driver, which libvirtd is never given.)
A second `build` with nothing changed: 0.2 s (it reads three stamps).

At run time Release.get(suite) says where a suite's root is and what it runs (bookworm:
the machine's own root, "/"); tests.harness.fleet.ReleaseHost runs a fleet host chrooted
in it, with its own writable state on top (an overlay), so the cached root is never written.

Standard library only: `make releases` runs this with the system's python3.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RELEASES_DIR_ENV = "VIRTOPS_RELEASES_DIR"
DEFAULT_RELEASES_DIR = "/var/cache/virtops-releases"
STAMP = ".virtops-release.json"
MACHINE = "bookworm"  # the machine's own release: its root is /
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# Bump to rebuild every root when something the hash does not see changes.
RECIPE_VERSION = 1
# A build that fails (a mirror's transient error) is started again from an empty folder, this often.
BUILD_ATTEMPTS = 3
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The machine's clock may be past a Release file's Valid-Until (sid's always has one).
APT_OPTIONS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Check-Date=false")
# Folders a fleet host mounts its own state on (tests.harness.fleet.ReleaseHost).
MOUNT_POINTS = (
    "etc/libvirt",
    "etc/pki",
    "var/log/libvirt",
    "var/lib/libvirt",
    "var/cache/libvirt",
    "run",
    "tmp",
    "root",
)
MULTIARCH = "x86_64-linux-gnu"
# A root without libvirt, for the host side of a containerised libvirt (see SUITES).
BARE = "bookworm-bare"


@dataclass(frozen=True)
class Suite:
    """What a Debian suite's root holds and how it is made."""

    name: str
    libvirt: str | None  # X.Y.Z the suite ships (checked after the build); None: a root without libvirt
    python: str  # X.Y
    packages: tuple  # installed with apt-get install --no-install-recommends
    config_packages: tuple = ()  # downloaded; only their /etc/libvirt is unpacked into the root
    debian: str | None = None  # the Debian suite debootstrap makes, when name is not one (default: name)
    mount_points: tuple = MOUNT_POINTS

    @property
    def debian_suite(self) -> str:
        return self.debian or self.name

    def recipe(self, mirror: str) -> dict:
        recipe = {
            "recipe_version": RECIPE_VERSION,
            "suite": self.name,
            "mirror": mirror,
            "packages": list(self.packages),
            "config_packages": list(self.config_packages),
            "apt_options": list(APT_OPTIONS),
            "mount_points": list(self.mount_points),
            "script": INSTALL_SCRIPT,
        }
        # Only roots that have them name these: the others' hashes (and their built roots) stay current.
        if self.debian:
            recipe["debian_suite"] = self.debian
        if self.libvirt is None:
            recipe["without_libvirt"] = True
        return recipe

    def recipe_hash(self, mirror: str) -> str:
        return hashlib.sha256(json.dumps(self.recipe(mirror), sort_keys=True).encode()).hexdigest()


# From libvirt 11 on Debian splits the daemons: virt-admin is in libvirt-daemon-common (libvirt-clients
# has virsh only), virtlogd and virtlockd in -log and -lock, each driver in its own package, and
# libvirtd.conf ships in libvirt-daemon. libvirt 7.0.0 has everything but virt-admin and virsh in
# libvirt-daemon, and its config files in libvirt-daemon-system.
_SPLIT = (
    "libvirt-daemon",
    "libvirt-daemon-common",
    "libvirt-daemon-log",
    "libvirt-daemon-lock",
    "libvirt-daemon-driver-secret",
    "libvirt-daemon-driver-storage",
    "libvirt-clients",
)
SUITES = {
    "bullseye": Suite(
        "bullseye",
        "7.0.0",
        "3.9",
        ("python3", "openssh-server", "libvirt-daemon", "libvirt-clients"),
        config_packages=("libvirt-daemon-system",),
    ),
    "trixie": Suite("trixie", "11.3.0", "3.13", ("python3", "openssh-server", *_SPLIT)),
    "sid": Suite("sid", "12.8.0", "3.14", ("python3", "openssh-server", *_SPLIT)),
    # The host of a containerised libvirt (tests.harness.containerised): the machine's release with python3
    # and sshd only. No libvirt package, so no libvirt-admin.so.0 or libvirt.so.0: the daemon runs in a
    # root of its own (trixie's) and shares /run/libvirt with it, as kolla-ansible's nova_libvirt does.
    BARE: Suite(
        BARE,
        None,
        "3.11",
        ("python3", "openssh-server"),
        debian=MACHINE,
        mount_points=("run", "tmp", "root", "etc/kolla"),
    ),
}
ORDER = ("bullseye", "bookworm", "trixie", "sid")  # oldest first (releases with libvirt)

# Run by sh inside the chroot; $1.. are the packages, CONFIG_PACKAGES the config packages, APT the options.
INSTALL_SCRIPT = r"""set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get $APT -q update
apt-get $APT -q -y install --no-install-recommends "$@"
if [ -n "$CONFIG_PACKAGES" ]; then
  cd /tmp
  apt-get $APT -q download $CONFIG_PACKAGES
  for deb in /tmp/*.deb; do
    dpkg-deb -x "$deb" /tmp/unpacked
  done
  # only what is not there yet: the installed packages' own files stay as they are
  cp -a -n /tmp/unpacked/etc/libvirt/. /etc/libvirt/
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*
"""


class ReleaseMissing(RuntimeError):
    pass


def releases_dir() -> Path:
    return Path(os.environ.get(RELEASES_DIR_ENV) or DEFAULT_RELEASES_DIR)


@functools.lru_cache(maxsize=None)
def machine_mirror() -> str:
    """The machine's Debian mirror: the first URI in /etc/apt/sources.list* serving a Debian suite."""
    texts = []
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]:
        with contextlib.suppress(OSError):
            texts.append(Path(path).read_text())
    for text in texts:
        # deb822: a stanza whose Suites name a Debian release (not -security, not another vendor's)
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            suites = fields.get("Suites", "").split()
            if fields.get("URIs") and any(suite == MACHINE for suite in suites):
                return fields["URIs"].split()[0].rstrip("/")
        for line in text.splitlines():  # one-line style: deb [options] URI SUITE components
            match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and match.group(2) == MACHINE:
                return match.group(1).rstrip("/")
    return FALLBACK_MIRROR


# ---------------------------------------------------------------- at run time


@dataclass(frozen=True)
class Release:
    """A Debian release a fleet host can run: a built root, or the machine's own (root /)."""

    suite: str
    root: Path
    libvirt_version: str | None  # X.Y.Z of its libvirtd (None: a root without libvirt)
    python_version: str  # X.Y.Z of its /usr/bin/python3
    info: dict  # the stamp ({} for the machine's)

    @property
    def machine(self) -> bool:
        return self.root == Path("/")

    @property
    def python(self) -> str:
        """X.Y"""
        return ".".join(self.python_version.split(".")[:2])

    @property
    def libdir(self) -> Path:
        return self.root / "usr" / "lib" / MULTIARCH

    @property
    def driver_dir(self) -> Path:
        return self.libdir / "libvirt" / "connection-driver"

    def path(self, inside: str) -> Path:
        """A path of the root (inside: as the release's processes see it), from outside."""
        return self.root / inside.lstrip("/")

    def written_since_built(self) -> list:
        """Every path of the root (from outside) modified more than a second after its stamp was
        written: [] for a root that nothing wrote into since it was built."""
        stamp = (self.root / STAMP).stat().st_mtime
        newer = []
        for folder, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.lstat(path).st_mtime > stamp + 1:
                    newer.append(path)
        return newer

    @classmethod
    def get(cls, suite: str) -> Release:
        """The release's root, which must be built and current (else ReleaseMissing says how)."""
        if suite == MACHINE:
            return machine_release()
        if suite not in SUITES:
            raise ReleaseMissing(f"unknown release {suite!r}; known: {', '.join(ORDER)}")
        link = releases_dir() / suite
        stamp = read_stamp(link)
        how = f"run `make releases` (or `python3 -m tests.harness.releases build {suite}`)"
        if stamp is None:
            raise ReleaseMissing(f"no {suite} root in {link}: {how}")
        if stamp.get("recipe_hash") != SUITES[suite].recipe_hash(stamp.get("mirror", "")):
            raise ReleaseMissing(f"the {suite} root in {link} was built from another recipe: {how}")
        return cls(suite, link.resolve(), stamp["libvirt_version"], stamp["python_version"], stamp)


@functools.lru_cache(maxsize=None)
def machine_release() -> Release:
    libvirt = _version(["libvirtd", "--version"])
    python = _version(["/usr/bin/python3", "--version"])
    return Release(MACHINE, Path("/"), libvirt, python, {})


def _version(argv: list) -> str:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"(\d+\.\d+\.\d+)", completed.stdout + completed.stderr)
    if completed.returncode != 0 or not match:
        raise ReleaseMissing(f"{shlex.join(argv)} printed no version: {completed.stdout} {completed.stderr}")
    return match.group(1)


def read_stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- building


class StepFailed(RuntimeError):
    """A step of a build exited non-zero (its output is in the build's log)."""


def _run(argv: list, log, **kwargs) -> None:
    log.write(f"\n$ {shlex.join(argv)}\n")
    log.flush()
    completed = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False, **kwargs)
    if completed.returncode != 0:
        raise StepFailed(f"{shlex.join(argv[:6])} ... failed with {completed.returncode}")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def _mounts_under(path: Path) -> list:
    """Mount points at or under path in this process's mount namespace (none, ever, in the machine's)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            target = line.split()[4]
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _remove(path: Path) -> None:
    if _mounts_under(path):  # never rm -r through a bind mount of /dev or /proc
        raise SystemExit(f"{path} has mounts in it ({', '.join(_mounts_under(path))}): not removing it")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _in_root(root: Path, script: str, args: list, env: dict) -> list:
    """argv running `sh -c script` chrooted in root, in new mount and pid namespaces with a fresh
    /proc, /dev bound, tmpfs on /run and /tmp (all gone with the namespace)."""
    quoted = shlex.quote(str(root))
    setup = "; ".join(
        [
            "set -e",
            f"mount -t proc proc {quoted}/proc",
            f"mount --rbind /dev {quoted}/dev",
            f"mount -t tmpfs -o mode=755 tmpfs {quoted}/run",
            f"mount -t tmpfs -o mode=1777 tmpfs {quoted}/tmp",
            f'exec chroot {quoted} /usr/bin/env -i "$@"',
        ]
    )
    assignments = [f"{key}={value}" for key, value in {"PATH": CHROOT_PATH, "LANG": "C.UTF-8", **env}.items()]
    return [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--propagation",
        "private",
        "sh",
        "-c",
        setup,
        "sh",
        *assignments,
        "sh",
        "-c",
        script,
        "sh",
        *args,
    ]


def _du(path: Path) -> int:
    completed = subprocess.run(["du", "-sx", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(completed.stdout.split()[0])


def _in_root_version(root: Path, argv: list) -> str:
    """The version a program of the root prints (chrooted; needs no mounts)."""
    return _version(["chroot", str(root), *argv])


def _package_version(root: Path, package: str) -> str:
    completed = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip()


@contextlib.contextmanager
def _locked(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def current(suite: str, mirror: str | None = None) -> dict | None:
    """The stamp of the suite's root when it is built from the current recipe, else None."""
    spec = SUITES[suite]
    stamp = read_stamp(releases_dir() / suite)
    mirror = mirror or machine_mirror()
    if stamp and stamp.get("recipe_hash") == spec.recipe_hash(mirror):
        return stamp
    return None


def build(suite: str, force: bool = False) -> tuple:
    """Build the suite's root unless a current one is there: (stamp, built: bool)."""
    spec = SUITES[suite]
    mirror = machine_mirror()
    digest = spec.recipe_hash(mirror)
    base = releases_dir()
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / f".{suite}.lock"):
        for leftover in base.glob(f".{suite}-*.tmp"):  # interrupted builds (a build holds the lock)
            _remove(leftover)
        stamp = None if force else current(suite, mirror)
        if stamp is not None:
            return stamp, False
        final = base / f"{suite}-{digest[:12]}"
        tmp = base / f".{final.name}.tmp"
        log_path = base / f"{suite}.log"
        with open(log_path, "w") as log:
            for attempt in range(1, BUILD_ATTEMPTS + 1):
                log.write(f"# {suite} from {mirror}, recipe {digest}, attempt {attempt} of {BUILD_ATTEMPTS}\n")
                _remove(tmp)
                tmp.mkdir()
                try:
                    started, debootstrapped, installed = _make_root(spec, tmp, mirror, log)
                    break
                except (StepFailed, subprocess.TimeoutExpired) as exc:
                    log.write(f"# attempt {attempt}: {exc}\n")
                    log.flush()
                    if attempt == BUILD_ATTEMPTS:
                        raise SystemExit(
                            f"building the {suite} root failed {BUILD_ATTEMPTS} times, last: {exc}; "
                            f"the end of {log_path}:\n{_tail(log_path)}"
                        ) from None
                    print(f"{suite}: attempt {attempt} failed ({exc}); trying again", file=sys.stderr, flush=True)
                    time.sleep(5 * attempt)  # a mirror's transient error (a sync, a dropped connection)
        with_libvirt = spec.libvirt is not None
        stamp = {
            "suite": suite,
            "mirror": mirror,
            "recipe_hash": digest,
            "libvirt_version": _in_root_version(tmp, ["/usr/sbin/libvirtd", "--version"]) if with_libvirt else None,
            "virt_admin_version": _in_root_version(tmp, ["/usr/bin/virt-admin", "--version"]) if with_libvirt else None,
            "python_version": _in_root_version(tmp, ["/usr/bin/python3", "--version"]),
            "openssh_version": _package_version(tmp, "openssh-server"),
            "debian_libvirt_version": _package_version(tmp, "libvirt-daemon") if with_libvirt else None,
            "packages": list(spec.packages),
            "config_packages": list(spec.config_packages),
            "debootstrap_seconds": round(debootstrapped - started, 1),
            "install_seconds": round(installed - debootstrapped, 1),
            "seconds": round(time.monotonic() - started, 1),
            "bytes": _du(tmp),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        problems = check_root(tmp, spec, stamp)
        if problems:
            raise SystemExit(f"the {suite} root built in {tmp} is not usable:\n" + "\n".join(problems))
        (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")  # last: a root with a stamp is whole
        if final.exists():
            _remove(final)
        tmp.rename(final)
        link = base / suite
        new_link = base / f".{suite}.link"
        _remove(new_link)
        new_link.symlink_to(final.name)
        new_link.replace(link)  # atomic
        for old in base.glob(f"{suite}-*"):
            if old != final and old.is_dir():
                _remove(old)
        return stamp, True


def _make_root(spec: Suite, tmp: Path, mirror: str, log) -> tuple:
    """debootstrap, then apt-get install inside the root, into the empty folder tmp: the monotonic
    times (started, debootstrapped, installed); StepFailed when a step fails."""
    started = time.monotonic()
    # debootstrap mounts /proc and /sys in the target itself: in a mount namespace of its own,
    # they can never stay mounted in the machine's.
    debootstrap = ["debootstrap", "--variant=minbase", spec.debian_suite, str(tmp), mirror]
    _run(["unshare", "--mount", "--propagation", "private", *debootstrap], log, timeout=1800)
    debootstrapped = time.monotonic()
    policy = tmp / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# tests/harness/releases.py: no package starts a service here\nexit 101\n")
    policy.chmod(0o755)
    env = {"APT": " ".join(APT_OPTIONS), "CONFIG_PACKAGES": " ".join(spec.config_packages)}
    _run(_in_root(tmp, INSTALL_SCRIPT, list(spec.packages), env), log, timeout=1800)
    installed = time.monotonic()
    for folder in spec.mount_points:
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    return started, debootstrapped, installed


def required_files(spec: Suite) -> list:
    """Paths (inside the root) a fleet host of the suite needs."""
    if spec.libvirt is None:
        return ["usr/bin/python3", "usr/sbin/sshd", "usr/sbin/policy-rc.d", *spec.mount_points]
    drivers = f"usr/lib/{MULTIARCH}/libvirt/connection-driver"
    return [
        "usr/sbin/libvirtd",
        "usr/sbin/virtlogd",
        "usr/sbin/virtlockd",
        "usr/bin/virt-admin",
        "usr/bin/virsh",
        "usr/bin/python3",
        "usr/sbin/sshd",
        f"usr/lib/{MULTIARCH}/libvirt-admin.so.0",
        f"usr/lib/{MULTIARCH}/libvirt.so.0",
        f"{drivers}/libvirt_driver_secret.so",
        f"{drivers}/libvirt_driver_storage.so",
        "etc/libvirt/libvirtd.conf",
        "etc/libvirt/virtlogd.conf",
        "etc/libvirt/virtlockd.conf",
        "usr/sbin/policy-rc.d",
        *MOUNT_POINTS,
    ]


def libvirt_files(root: Path) -> list:
    """Every file of root (inside it) whose name is one of libvirt's libraries or programs: libvirt*.so*,
    libvirtd, virt-admin, virsh."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if (name.startswith("libvirt") and ".so" in name) or name in ("libvirtd", "virt-admin", "virsh"):
                found.append("/" + os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def check_root(root: Path, spec: Suite, stamp: dict) -> list:
    """Problems of a built root ([] when none)."""
    problems = [f"missing {path}" for path in required_files(spec) if not os.path.lexists(root / path)]
    if spec.libvirt is None:  # absent, not empty: no file of libvirt's, no package that ships one
        problems += [f"{path} is there: this root must have no libvirt" for path in libvirt_files(root)]
        problems += [
            f"package {name} is installed" for name in ("libvirt0", "libvirt-clients") if _package_version(root, name)
        ]
    elif stamp.get("libvirt_version") != spec.libvirt:
        problems.append(f"libvirtd is {stamp.get('libvirt_version')}, not {spec.libvirt}: update SUITES")
    if stamp.get("virt_admin_version") != stamp.get("libvirt_version"):
        problems.append(f"virt-admin is {stamp.get('virt_admin_version')}, libvirtd {stamp.get('libvirt_version')}")
    if not str(stamp.get("python_version", "")).startswith(spec.python + "."):
        problems.append(f"python3 is {stamp.get('python_version')}, not {spec.python}: update SUITES")
    if (root / "var/lib/apt/lists").exists() and any((root / "var/lib/apt/lists").iterdir()):
        problems.append("apt's lists are still there")
    return problems


def check(suite: str) -> list:
    if suite == MACHINE:
        release = machine_release()
        return [] if release.libvirt_version and release.python_version else ["no libvirtd or python3"]
    try:
        release = Release.get(suite)
    except ReleaseMissing as exc:
        return [str(exc)]
    problems = check_root(release.root, SUITES[suite], release.info)
    programs = [("/usr/sbin/libvirtd", "libvirt_version")] if SUITES[suite].libvirt else []
    for program, key in (*programs, ("/usr/bin/python3", "python_version")):
        seen = _in_root_version(release.root, [program, "--version"])
        if seen != release.info[key]:
            problems.append(f"{program} --version is {seen} now, {release.info[key]} when built")
    return problems


def describe(stamp: dict) -> str:
    libvirt = stamp["libvirt_version"]
    libvirt = f"libvirt {libvirt} ({stamp['debian_libvirt_version']})" if libvirt else "no libvirt"
    return (
        f"{stamp['suite']}: {libvirt}, Python {stamp['python_version']}, OpenSSH {stamp['openssh_version']}; "
        f"{stamp['bytes'] / 1e6:.0f} MB, built in {stamp['seconds']} s "
        f"(debootstrap {stamp['debootstrap_seconds']} s, apt-get install {stamp['install_seconds']} s)"
    )


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "check"))
    parser.add_argument("suites", nargs="*", help=f"default: {', '.join(SUITES)} (check: also {MACHINE})")
    parser.add_argument("--force", action="store_true", help="build even when a current root is there")
    args = parser.parse_intermixed_args(argv)  # build --force sid, as well as build sid --force
    known = (*SUITES, MACHINE) if args.action == "check" else tuple(SUITES)
    suites = args.suites or list(known)
    for suite in suites:
        if suite not in known:
            parser.error(f"unknown suite {suite}; known: {', '.join(known)}")
    status = 0
    for suite in suites:
        if args.action == "build":
            started = time.monotonic()
            stamp, built = build(suite, force=args.force)
            link = releases_dir() / suite
            if built:
                print(f"built {describe(stamp)} -> {link}", flush=True)
            else:
                print(f"current {suite} root in {link} (recipe unchanged, {time.monotonic() - started:.2f} s)")
        else:
            problems = check(suite)
            release = None if problems else Release.get(suite)
            if problems:
                status = 1
                print(f"{suite}: " + "; ".join(problems))
            else:
                libvirt = f"libvirt {release.libvirt_version}" if release.libvirt_version else "no libvirt"
                print(f"{suite}: ok, {libvirt}, Python {release.python_version} in {release.root}")
    return status


if __name__ == "__main__":
    sys.exit(main())
