"""Fixtures of the packaging tests: the release tools, the built tarball, the installed collection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness.ansible import REPO
from tests.packaging.helpers import BIN, VERSION, run


@pytest.fixture(scope="session")
def release_bin() -> Path:
    """The venv of requirements-release.txt (antsibull-docs, antsibull-changelog, ansible-builder, bindep)."""
    path = Path(os.environ.get("VIRTOPS_RELEASE_BIN", REPO / ".build" / "venv-release" / "bin"))
    if not (path / "antsibull-docs").exists():
        pytest.fail(f"no release tools in {path}: `make packaging` installs them (requirements-release.txt)")
    return path


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> Path:
    """The collection built by `ansible-galaxy collection build`, as `make package` builds it."""
    out = tmp_path_factory.mktemp("dist")
    built = run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO], cwd=REPO)
    assert built.returncode == 0, built.stdout + built.stderr
    path = out / f"virtops-libvirt_admin-{VERSION}.tar.gz"
    assert path.is_file(), f"no {path.name} in {sorted(p.name for p in out.iterdir())}: {built.stdout}"
    return path


@pytest.fixture(scope="session")
def installed(tarball, tmp_path_factory) -> Path:
    """A fresh collections path holding only the collection installed from the tarball."""
    path = tmp_path_factory.mktemp("collections")
    # Only the new path in sight: otherwise ansible-galaxy finds this checkout and installs nothing.
    argv = [BIN / "ansible-galaxy", "collection", "install", "--offline", "--force", "-p", path, tarball]
    done = run(argv, env={"ANSIBLE_COLLECTIONS_PATH": str(path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (path / "ansible_collections" / "virtops" / "libvirt_admin" / "MANIFEST.json").is_file(), done.stdout
    return path
