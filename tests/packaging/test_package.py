"""The tarball `ansible-galaxy collection build` makes: what it holds, and that it works once installed.

The installed copy is the only one Ansible can see (ANSIBLE_COLLECTIONS_PATH names
only its folder): a module or playbook that runs came from the tarball.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.harness.ansible import BIN, FQCN, run_module, run_playbook
from tests.packaging.helpers import VERSION, modules, playbooks, roles, run, server_names, threadpool, virt_admin

# Never in the tarball: development files (galaxy.yml build_ignore).
DEVELOPMENT = (".build", ".venv", ".git", ".ci", ".hypothesis", ".pytest_cache", ".ruff_cache", "bench", "tests")
DEVELOPMENT_FILES = (
    "Makefile",
    "ruff.toml",
    "requirements-dev.txt",
    "requirements-libvirt.txt",
    "requirements-release.txt",
    "docs/site/conf.py",
)


@pytest.fixture(scope="module")
def members(tarball) -> set:
    with tarfile.open(tarball) as archive:
        return {member.name.rstrip("/") for member in archive.getmembers()}


def test_tarball_holds_every_module_role_and_playbook(members):
    missing = [f"plugins/modules/{name}.py" for name in modules() if f"plugins/modules/{name}.py" not in members]
    missing += [f"roles/{name}" for name in roles() if f"roles/{name}/tasks/main.yml" not in members]
    missing += [f"playbooks/{name}" for name in playbooks() if f"playbooks/{name}.yml" not in members]
    assert not missing, f"not in the tarball: {missing}"
    for path in (
        "MANIFEST.json",
        "FILES.json",
        "README.md",
        "LICENSE",
        "CHANGELOG.rst",
        "changelogs/changelog.yaml",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "bindep.txt",
        "docs/docsite/extra-docs.yml",
        "docs/docsite/rst/guide.rst",
        "docs/docsite/rst/closed_loop.rst",
        "docs/docsite/rst/admin_watch.rst",
        "meta/extensions.yml",
        # Event-Driven Ansible: the source, its schema and its code, the rulebooks
        "extensions/eda/plugins/event_source/admin_watch.py",
        "extensions/eda/plugins/event_source/schemas/admin_watch.json",
        "extensions/eda/rulebooks/guard.yml",
        "extensions/eda/rulebooks/guard_job_template.yml",
        "plugins/plugin_utils/_watch_loop.py",
        "plugins/plugin_utils/_relay_agent.py",
    ):
        assert path in members, f"{path} is not in the tarball"


def test_tarball_leaves_development_files_out(members):
    leaked = sorted(
        name
        for name in members
        if name.split("/")[0] in DEVELOPMENT
        or name in DEVELOPMENT_FILES
        or "__pycache__" in name.split("/")
        or name.endswith(".pyc")
        or "/molecule" in f"/{name}"
    )
    assert not leaked, f"development files in the tarball: {leaked[:20]}"


def test_manifest_names_the_collection_and_version(tarball):
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("virtops", "libvirt_admin", VERSION)


def test_ansible_finds_the_collection_only_where_it_was_installed(installed):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed)}
    listed = run([BIN / "ansible-galaxy", "collection", "list", f"{FQCN}", "--format", "json"], env=env)
    assert listed.returncode == 0, listed.stderr
    assert list(json.loads(listed.stdout)) == [str(installed / "ansible_collections")]
    doc = run([BIN / "ansible-doc", "--json", f"{FQCN}.libvirt_admin_server_info"], env=env)
    assert doc.returncode == 0, doc.stderr
    filename = json.loads(doc.stdout)[f"{FQCN}.libvirt_admin_server_info"]["doc"]["filename"]
    assert filename.startswith(str(installed)), filename


def test_installed_module_reports_the_daemon(installed, daemon):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed)}
    result = run_module("libvirt_admin_server_info", {"uri": daemon.uri}, env=env)
    assert not result.failed, result.msg or result.stderr
    assert not result.changed
    assert [server["name"] for server in result["servers"]] == server_names(daemon.uri)
    assert result["uri"] == virt_admin(daemon.uri, "uri").strip()
    own = next(server for server in result["servers"] if server["name"] == "libvirtd")
    pool = threadpool(daemon.uri, "libvirtd")
    assert (own["threadpool"]["min_workers"], own["threadpool"]["max_workers"]) == (
        pool["minWorkers"],
        pool["maxWorkers"],
    )


def test_installed_module_is_missing_without_the_tarball(tmp_path, daemon):
    """The control for the test above: the same task, with nothing installed, fails."""
    (tmp_path / "ansible_collections").mkdir()
    argv = [BIN / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", f"{FQCN}.libvirt_admin_server_info"]
    done = run([*argv, "-a", json.dumps({"uri": daemon.uri})], env={"ANSIBLE_COLLECTIONS_PATH": str(tmp_path)})
    assert done.returncode != 0
    assert "libvirt_admin_server_info" in done.stdout + done.stderr


def test_installed_playbook_changes_the_daemon(installed, daemon):
    before = threadpool(daemon.uri, "libvirtd")["maxWorkers"]
    wanted = before + 7
    done = run_playbook(
        f"{FQCN}.threadpool",
        extra_vars={
            "libvirt_admin_hosts": "localhost",
            "libvirt_admin_become": False,
            "libvirt_admin_uri": daemon.uri,
            "libvirt_admin_max_workers": wanted,
        },
        env={"ANSIBLE_COLLECTIONS_PATH": str(installed)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed=1" in done.stdout or "changed=2" in done.stdout, done.stdout
    assert threadpool(daemon.uri, "libvirtd")["maxWorkers"] == wanted
