"""What ansible-builder and bindep make of the collection's execution-environment metadata."""

from __future__ import annotations

import yaml

from tests.harness.ansible import REPO
from tests.packaging.helpers import run


def test_builder_finds_the_system_packages_in_the_installed_collection(release_bin, installed):
    """ansible-builder's own introspection, on the collection installed from the tarball."""
    done = run([release_bin / "ansible-builder", "introspect", installed])
    assert done.returncode == 0, done.stdout + done.stderr
    found = yaml.safe_load(done.stdout.split("\n", 1)[1])  # after its "# Dependency data for ..." line
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert system == ["libvirt0 [platform:dpkg]", "libvirt-libs [platform:rpm]"], found
    assert found["python"] == [], "the modules need no Python package"


def test_bindep_names_the_library_package_of_this_platform(release_bin):
    """On Debian (a dpkg platform) bindep picks libvirt0, and finds it installed."""
    listed = run([release_bin / "bindep", "--file", REPO / "bindep.txt", "--list_all", "newline"])
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["libvirt0"]
    missing = run([release_bin / "bindep", "--file", REPO / "bindep.txt", "--brief"])
    assert missing.returncode == 0, f"bindep says missing: {missing.stdout}"


def test_builder_accepts_the_example_definition(release_bin, tmp_path):
    """docs/execution-environment.yml, the definition the docs point to, makes a build context."""
    context = tmp_path / "context"
    definition = REPO / "docs" / "execution-environment.yml"
    argv = [release_bin / "ansible-builder", "create", "--file", definition, "--context", context]
    done = run([*argv, "--output-filename", "Containerfile"])
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text()
    # The build installs the collection, introspects it (bindep.txt) and installs its system packages.
    for step in ("ansible-galaxy collection install", "introspect", "install-from-bindep"):
        assert step in containerfile, f"no {step!r} step in the Containerfile"
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [entry["name"] for entry in requirements["collections"]] == ["virtops.libvirt_admin"]


def test_builder_accepts_the_decision_environment_definition(release_bin, tmp_path):
    """docs/decision-environment.yml, the EDA controller's image of the guard: ansible-rulebook, Java,
    OpenSSH's client and this collection."""
    context = tmp_path / "context"
    definition = REPO / "docs" / "decision-environment.yml"
    argv = [release_bin / "ansible-builder", "create", "--file", definition, "--context", context]
    done = run([*argv, "--output-filename", "Containerfile"])
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text()
    for step in ("ansible-galaxy collection install", "introspect", "install-from-bindep", "JAVA_HOME"):
        assert step in containerfile, f"no {step!r} step in the Containerfile"
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [entry["name"] for entry in requirements["collections"]] == ["virtops.libvirt_admin"]
    python = (context / "_build" / "requirements.txt").read_text()
    assert "ansible-rulebook" in python, python
    system = (context / "_build" / "bindep.txt").read_text()
    assert "java-17-openjdk-headless" in system and "openssh-clients" in system, system
