"""The libvirt versions the tests run: the system's, and newer ones unpacked beside it.

    python3 -m tests.harness.libvirt_versions fetch 11.3   # what `make setup` runs
    python3 -m tests.harness.libvirt_versions check 11.3   # is it there and complete?

A newer libvirt is never installed system-wide. `fetch` points a private apt
configuration (its own sources, package lists and cache under
.build/apt-<name>/; the system's sources, lists and dpkg state are only
read) at the Debian suite that ships it, downloads the packages named in
RELEASES below and unpacks them with `dpkg -x` into .build/libvirt-<name>/.
A shared library those packages depend on that this host lacks at the
version they need is fetched and unpacked there too (the newest that fits,
from the suite or the release it was built for). Then every binary and
library is checked with ldd, and MANIFEST.json records what was fetched.

At run time Libvirt.get(name) says where a version's binaries, libraries
and drivers are: a daemon runs its libvirtd with LD_LIBRARY_PATH on the
unpacked libraries and LIBVIRT_DRIVER_DIR on its own drivers, and modules
load its libvirt-admin.so.0 through an interpreter wrapper that sets
LD_LIBRARY_PATH (see tests.harness.ansible.interpreter). Both default to
the system's libvirt, or to $VIRTOPS_LIBVIRT_VERSION when it is set:

    VIRTOPS_LIBVIRT_VERSION=11.3 .venv/bin/python -m pytest tests/integration

Standard library only: `make setup` runs this with the system's python3.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".build"
MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SYSTEM = "system"
# Set, it makes that version the default of Daemon() and run_module() (e.g. 11.3 to run
# the whole suite against it); unset, the default is the system's libvirt.
DEFAULT_VERSION_ENV = "VIRTOPS_LIBVIRT_VERSION"


@dataclass(frozen=True)
class Release:
    """A libvirt release taken from a Debian suite."""

    upstream: str  # X.Y: the suite must ship X.Y.*
    suite: str
    base_suite: str  # the release the suite's packages were built for
    packages: tuple  # (package, why it is needed)


RELEASES = {
    "11.3": Release(
        upstream="11.3",
        suite="bookworm-backports",
        base_suite="bookworm",
        packages=(
            ("libvirt0", "libvirt.so.0 and libvirt-admin.so.0: the modules' and the daemons' libraries"),
            ("libvirt-daemon", "libvirtd"),
            ("libvirt-daemon-common", "virt-admin (libvirt-clients no longer ships it)"),
            ("libvirt-daemon-log", "virtlogd"),
            ("libvirt-daemon-lock", "virtlockd"),
            ("libvirt-daemon-driver-secret", "the secret driver, for test clients"),
            ("libvirt-daemon-driver-storage", "the storage driver and its fs backend, for the worker load"),
        ),
    ),
}


class LibvirtMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=None)
def system_version() -> str:
    """The system libvirtd's version, X.Y.Z."""
    try:
        text = subprocess.run(["libvirtd", "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LibvirtMissing(f"no system libvirtd ({exc}): run `make setup`") from exc
    match = re.search(r"(\d+\.\d+\.\d+)", text)
    if not match:
        raise LibvirtMissing(f"libvirtd --version printed no version: {text!r}")
    return match.group(1)


def names() -> list:
    """Every version the tests know, the system's first (e.g. ["9.0", "11.3"])."""
    system = ".".join(system_version().split(".")[:2])
    return [system, *(name for name in RELEASES if name != system)]


@dataclass(frozen=True)
class Libvirt:
    """Where one libvirt version's files are: the system's (prefix /) or an unpacked tree."""

    name: str  # X.Y, or "system"
    prefix: Path

    @classmethod
    def get(cls, name: str | None = None) -> Libvirt:
        """None: $VIRTOPS_LIBVIRT_VERSION, else the system's libvirt; "system" or the system's
        X.Y: the system's libvirt; a RELEASES name: its unpacked tree, which must be complete
        (else LibvirtMissing says to run make setup)."""
        if name is None:
            name = os.environ.get(DEFAULT_VERSION_ENV) or SYSTEM
        if name == SYSTEM:
            return cls(SYSTEM, Path("/"))  # without asking libvirtd its version
        if name == ".".join(system_version().split(".")[:2]):
            return cls(name, Path("/"))
        if name not in RELEASES:
            raise LibvirtMissing(f"unknown libvirt version {name!r}; known: {', '.join(names())}")
        found = cls(name, BUILD / f"libvirt-{name}")
        problem = found.problem()
        if problem:
            raise LibvirtMissing(
                f"libvirt {name} is not unpacked in {found.prefix} ({problem}): run `make setup` "
                f"(or `python3 -m tests.harness.libvirt_versions fetch {name}`) to fetch it from Debian's "
                f"{RELEASES[name].suite}"
            )
        return found

    @property
    def system(self) -> bool:
        return self.prefix == Path("/")

    @property
    def libdir(self) -> Path:
        return self.prefix / "usr" / "lib" / MULTIARCH

    @property
    def driver_dir(self) -> Path:
        return self.libdir / "libvirt" / "connection-driver"

    @property
    def storage_backend_dir(self) -> Path:
        return self.libdir / "libvirt" / "storage-backend"

    @property
    def manifest(self) -> dict:
        path = self.prefix / "MANIFEST.json"
        return json.loads(path.read_text()) if not self.system and path.exists() else {}

    @property
    def version(self) -> str:
        """X.Y.Z, as `virt-admin version` prints it."""
        return system_version() if self.system else self.manifest["version"]

    def problem(self) -> str:
        """Why this tree is not usable, or ""."""
        if self.system:
            return ""
        if not (self.prefix / "MANIFEST.json").exists():
            return "no MANIFEST.json"
        missing = [str(path) for path in self.required_files() if not path.exists()]
        return f"missing {', '.join(missing)}" if missing else ""

    def required_files(self) -> list:
        return [
            self.executable_path("libvirtd"),
            self.executable_path("virt-admin"),
            self.libdir / "libvirt-admin.so.0",
            self.libdir / "libvirt.so.0",
            self.driver_dir,
        ]

    def executable_path(self, name: str) -> Path:
        for folder in ("usr/sbin", "usr/bin"):
            if (self.prefix / folder / name).exists():
                return self.prefix / folder / name
        return self.prefix / "usr" / "sbin" / name

    @property
    def library_path(self) -> str:
        """LD_LIBRARY_PATH for this version's libraries (and any unpacked into /lib/<multiarch>)."""
        folders = [self.libdir, self.prefix / "lib" / MULTIARCH]
        return ":".join(str(folder) for folder in folders if folder == self.libdir or folder.is_dir())

    def env(self) -> dict:
        """Environment a process needs to load this version's libraries ({} for the system's)."""
        if self.system:
            return {}
        return {"LD_LIBRARY_PATH": self.library_path}

    def command(self, name: str, *args: str) -> list:
        """argv running this version's `name` (libvirtd, virt-admin, ...) with its libraries."""
        if self.system:
            return [name, *args]
        assignments = [f"{key}={value}" for key, value in self.env().items()]
        return ["env", *assignments, str(self.executable_path(name)), *args]

    def shell_command(self, name: str, *args: str) -> str:
        return " ".join(shlex.quote(part) for part in self.command(name, *args))


# ---------------------------------------------------------------- fetching


def _run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kwargs)


class _Apt:
    """apt-get and apt-cache with private sources, package lists and cache."""

    def __init__(self, work: Path) -> None:
        self.work = work
        for folder in ("sources", "lists/partial", "cache/archives/partial", "debs"):
            (work / folder).mkdir(parents=True, exist_ok=True)
        self.options = [
            "-o",
            "Dir::Etc::SourceList=/dev/null",
            "-o",
            f"Dir::Etc::SourceParts={work / 'sources'}",
            "-o",
            f"Dir::State::Lists={work / 'lists'}",
            "-o",
            f"Dir::Cache={work / 'cache'}",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
            "-o",
            "APT::Sandbox::User=root",
        ]
        self.suites: list = []

    def use_suites(self, suites: list) -> None:
        if suites == self.suites:
            return
        (self.work / "sources" / "private.sources").write_text(
            f"Types: deb\nURIs: {MIRROR}\nSuites: {' '.join(suites)}\nComponents: main\nSigned-By: {KEYRING}\n"
        )
        try:
            _run(["apt-get", *self.options, "-q", "update"], timeout=600)
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"apt-get update for {' '.join(suites)} failed:\n{exc.stdout}\n{exc.stderr}") from exc
        self.suites = suites

    def versions(self, package: str) -> list:
        """(version, suite) pairs the private lists offer for package."""
        text = _run(["apt-cache", *self.options, "madison", package]).stdout
        found = []
        for line in text.splitlines():
            fields = [field.strip() for field in line.split("|")]
            if len(fields) >= 3 and fields[0] == package and "Packages" in fields[2]:
                found.append((fields[1], fields[2].split()[1].split("/")[0]))
        return found

    def download(self, specs: list) -> None:
        try:
            _run(["apt-get", *self.options, "-q", "download", *specs], cwd=self.work / "debs", timeout=600)
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"apt-get download {' '.join(specs)} failed:\n{exc.stdout}\n{exc.stderr}") from exc


def _compare(left: str, op: str, right: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", left, op, right], check=False).returncode == 0


def _newest(versions: list) -> str:
    best = versions[0]
    for version in versions[1:]:
        if _compare(version, ">>", best):
            best = version
    return best


def _installed_version(package: str) -> str | None:
    completed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Version}", package], capture_output=True, text=True, check=False
    )
    status, _sep, version = completed.stdout.partition("\t")
    return version if completed.returncode == 0 and status.endswith(" installed") else None


def _depends(deb: Path) -> list:
    """Depends and Pre-Depends of a .deb: a list of alternatives [(name, op, version)]."""
    clauses = []
    for field in ("Pre-Depends", "Depends"):
        text = _run(["dpkg-deb", "-f", str(deb), field]).stdout.strip()
        for clause in filter(None, (part.strip() for part in text.split(","))):
            alternatives = []
            for alternative in clause.split("|"):
                match = re.match(r"\s*([^\s:(]+)(?::\S+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?", alternative)
                if match:
                    alternatives.append(match.groups())
            clauses.append(alternatives)
    return clauses


def _satisfied_here(name: str, op: str | None, version: str | None) -> bool:
    installed = _installed_version(name)
    return installed is not None and (op is None or _compare(installed, op, version))


def fetch(name: str) -> dict:
    """Download and unpack RELEASES[name] into .build/libvirt-<name>; returns its manifest."""
    release = RELEASES[name]
    started = time.monotonic()
    work = BUILD / f"apt-{name}"
    shutil.rmtree(work / "debs", ignore_errors=True)
    apt = _Apt(work)
    apt.use_suites([release.suite])

    # The libvirt packages: every one at the same Debian version of X.Y.*.
    offered = [version for version, suite in apt.versions("libvirt0") if suite == release.suite]
    wanted = [version for version in offered if re.match(rf"(\d+:)?{re.escape(release.upstream)}\.", version)]
    if not wanted:
        raise SystemExit(
            f"{release.suite} no longer ships libvirt {release.upstream} (it has {', '.join(offered) or 'none'}): "
            "update RELEASES in tests/harness/libvirt_versions.py"
        )
    debian_version = _newest(wanted)
    reasons = dict(release.packages)
    apt.download([f"{package}={debian_version}" for package in reasons])

    # Shared libraries the packages need that this host lacks at the version they need.
    own = set(reasons)
    checked: set = set()
    while True:
        needed = {}
        for deb in sorted((work / "debs").glob("*.deb")):
            for alternatives in _depends(deb):
                names_here = [alt[0] for alt in alternatives]
                if any(alt in own or alt.startswith("libvirt") for alt in names_here):
                    continue  # libvirt's own packages: the ones fetched above are the ones needed
                if not all(alt.startswith("lib") for alt in names_here):
                    continue  # programs (logrotate, polkitd, mount ...): not needed to run the daemon here
                if any(_satisfied_here(*alt) for alt in alternatives) or names_here[0] in checked:
                    continue
                needed[names_here[0]] = alternatives[0]
        if not needed:
            break
        apt.use_suites([release.suite, release.base_suite])
        specs = []
        for package, (pkg, op, version) in needed.items():
            checked.add(package)
            candidates = [v for v, s in apt.versions(pkg) if op is None or _compare(v, op, version)]
            if not candidates:
                raise SystemExit(f"{pkg} ({op} {version}) is needed and neither {apt.suites} nor this host has it")
            chosen = _newest(candidates)
            specs.append(f"{pkg}={chosen}")
            reasons[pkg] = f"needed ({op or 'any'} {version or ''}) by libvirt {name}; this host has " + (
                _installed_version(pkg) or "none"
            )
            own.add(pkg)
        apt.download(specs)

    # Unpack beside the system's libvirt, into a fresh tree swapped in at the end.
    dest = BUILD / f"libvirt-{name}"
    tmp = BUILD / f".libvirt-{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    packages = []
    for deb in sorted((work / "debs").glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        package = _run(["dpkg-deb", "-f", str(deb), "Package"]).stdout.strip()
        packages.append(
            {
                "package": package,
                "version": _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip(),
                "deb_bytes": deb.stat().st_size,
                "installed_kib": int(_run(["dpkg-deb", "-f", str(deb), "Installed-Size"]).stdout.strip() or 0),
                "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
                "why": reasons.get(package, ""),
            }
        )
    unpacked = Libvirt(name, tmp)
    upstream = re.match(r"(?:\d+:)?([0-9.]+)", debian_version).group(1)
    manifest = {
        "name": name,
        "version": upstream,
        "debian_version": debian_version,
        "suite": release.suite,
        "packages": packages,
        "seconds": 0.0,
    }
    problems = check_tree(unpacked, upstream)
    if problems:
        raise SystemExit(f"libvirt {name} unpacked in {tmp} does not work here:\n" + "\n".join(problems))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    manifest["seconds"] = round(time.monotonic() - started, 1)
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _elf_files(libvirt: Libvirt) -> list:
    files = []
    for folder in (
        libvirt.prefix / "usr/sbin",
        libvirt.prefix / "usr/bin",
        *map(Path, libvirt.library_path.split(":")),
    ):
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as stream:
                    if stream.read(4) == b"\x7fELF":
                        files.append(path)
    return files


def check_tree(libvirt: Libvirt, version: str) -> list:
    """Problems found running the unpacked tree on this host ([] when none)."""
    problems = []
    env = {**os.environ, **libvirt.env()}
    for path in _elf_files(libvirt):
        completed = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env, check=False)
        missing = [line.split()[0] for line in completed.stdout.splitlines() if "not found" in line]
        if missing:
            problems.append(f"{path}: needs {', '.join(missing)}")
    for program in ("libvirtd", "virt-admin"):
        completed = subprocess.run(
            libvirt.command(program, "--version"), capture_output=True, text=True, timeout=30, check=False
        )
        if version not in completed.stdout:
            problems.append(f"{program} --version: {completed.stdout.strip()} {completed.stderr.strip()}")
    return problems


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("fetch", "check"))
    parser.add_argument("names", nargs="*", help=f"versions (default: all of {', '.join(RELEASES)})")
    args = parser.parse_args(argv)
    for name in args.names or list(RELEASES):
        if name not in RELEASES:
            parser.error(f"unknown version {name}; known: {', '.join(RELEASES)}")
        if args.action == "fetch":
            manifest = fetch(name)
            total = sum(package["deb_bytes"] for package in manifest["packages"])
            print(
                f"libvirt {manifest['version']} ({manifest['debian_version']}, {manifest['suite']}): "
                f"{len(manifest['packages'])} packages, {total / 1e6:.1f} MB of .debs, "
                f"unpacked in .build/libvirt-{name} in {manifest['seconds']} s"
            )
            for package in manifest["packages"]:
                print(f"  {package['package']:32} {package['deb_bytes']:>9} B  {package['why']}")
        else:
            libvirt = Libvirt.get(name)
            problems = check_tree(libvirt, libvirt.version)
            print("\n".join(problems) or f"libvirt {libvirt.version} in {libvirt.prefix}: ok")
            if problems:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
