"""The changelog: antsibull-changelog's fragments, the release of galaxy.yml's version, CHANGELOG.rst.

When one of these fails after a change, `make changelog` brings the release up to date.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.harness.ansible import REPO
from tests.packaging.helpers import VERSION, modules, playbooks, roles, run

CHANGELOG = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())


def announced(kind: str, name: str) -> list:
    """The releases that announce a new module ("modules"), role or playbook ("objects.role", ...)."""
    found = []
    for version, release in (CHANGELOG.get("releases") or {}).items():
        entries = release.get("modules", []) if kind == "modules" else release.get("objects", {}).get(kind, [])
        if any(entry["name"] == name for entry in entries):
            found.append(version)
    return found


def pending_fragments() -> list:
    folder = REPO / "changelogs" / "fragments"
    return [yaml.safe_load(path.read_text()) or {} for path in sorted(folder.glob("*.y*ml"))]


@pytest.fixture(scope="module")
def tool(release_bin):
    return release_bin / "antsibull-changelog"


def test_fragments_pass_lint(tool):
    done = run([tool, "lint"], cwd=REPO)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_galaxy_version_is_released_with_a_summary():
    release = (CHANGELOG.get("releases") or {}).get(VERSION)
    assert release, f"changelogs/changelog.yaml has no release {VERSION}: run `make changelog`"
    assert release["changes"].get("release_summary"), f"release {VERSION} has no release_summary"


def test_changelog_rst_is_generated_from_changelog_yaml(tool, tmp_path):
    """CHANGELOG.rst is what antsibull-changelog makes of changelogs/ now (nobody edited it by hand)."""
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs")
    done = run([tool, "generate"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "CHANGELOG.rst").read_text() == (REPO / "CHANGELOG.rst").read_text(), (
        "CHANGELOG.rst differs from what antsibull-changelog generates: run `make changelog`"
    )


def test_every_module_role_and_playbook_is_announced():
    pending = {
        name
        for fragment in pending_fragments()
        for kind in ("add object.playbook", "add object.role")
        for name in (entry["name"] for entry in fragment.get(kind, []))
    }
    missing = [f"module {name}" for name in modules() if not announced("modules", name)]
    missing += [f"role {name}" for name in roles() if not announced("role", name) and name not in pending]
    missing += [f"playbook {name}" for name in playbooks() if not announced("playbook", name) and name not in pending]
    assert not missing, f"not in the changelog: {missing} (a fragment, then `make changelog`)"
