"""Build the HTML docs site: `python docs/site/build.py [DEST]` (default .build/docs).

antsibull-docs writes the collection's pages as reStructuredText: every module,
every role with meta/argument_specs.yml, and the extra docs of docs/docsite (the
guide, the compatibility table). This script adds a page for the playbooks, made
from their header comments and the names of their plays and tasks, and Sphinx
renders the site into DEST/html, failing on any warning.

Needs antsibull-docs, ansible-doc and sphinx-build on PATH (`make docs` installs
them from requirements-release.txt) and the collection findable as
virtops.libvirt_admin (ANSIBLE_COLLECTIONS_PATH).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

SITE = Path(__file__).resolve().parent
REPO = SITE.parents[1]
COLLECTION = "virtops.libvirt_admin"


def escape(text: str) -> str:
    """Text as reStructuredText shows it literally in running prose."""
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", " ".join(str(text).split()))


def header_comment(text: str) -> str:
    """The comment block at the top of a playbook, without the comment marks."""
    lines = []
    for line in text.splitlines():
        if line.strip() == "---" and not lines:
            continue
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines).strip("\n")


def task_lines(tasks: list | None, depth: int) -> list:
    """A bullet list of task names, blocks nested."""
    lines = []
    indent = "  " * depth
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        nested = [key for key in ("block", "rescue", "always") if key in task]
        name = task.get("name") or next((key for key in task if "." in key or key.startswith("import_")), "task")
        lines.append(f"{indent}- {escape(name)}")
        for key in nested:
            if key != "block":
                lines.append(f"{indent}  - *{key}:*")
            sub = task_lines(task[key], depth + (2 if key != "block" else 1))
            if sub:
                lines.extend(["", *sub, ""])
    return lines


def playbook_section(path: Path) -> list:
    name = f"{COLLECTION}.{path.stem}"
    text = path.read_text()
    lines = [f".. _virtops.libvirt_admin.playbook.{path.stem}:", "", name, "-" * len(name), ""]
    lines += [f"Run it as ``ansible-playbook {name}``.", ""]
    header = header_comment(text)
    if header:
        lines += [".. code-block:: text", "", *[f"    {line}" if line else "" for line in header.splitlines()], ""]
    for play in yaml.safe_load(text) or []:
        if not isinstance(play, dict):
            continue
        if "import_playbook" in play:
            lines += [f"Imports the playbook ``{play['import_playbook']}``.", ""]
            continue
        lines += [f"**Play:** {escape(play.get('name', 'unnamed play'))} (hosts: ``{play.get('hosts', '')}``)", ""]
        roles = [
            role if isinstance(role, str) else role.get("role", role.get("name")) for role in play.get("roles") or []
        ]
        if roles:
            lines += ["Roles: " + ", ".join(f"``{role}``" for role in roles), ""]
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            if play.get(section):
                lines += [f"{section.replace('_', ' ').capitalize()}:", "", *task_lines(play[section], 0), ""]
    return lines


def playbooks_page(folder: Path) -> str:
    lines = [
        ".. _virtops.libvirt_admin.playbooks:",
        "",
        "Playbooks",
        "=========",
        "",
        "The collection's playbooks run by their full name, "
        "``ansible-playbook virtops.libvirt_admin.NAME -e VAR=VALUE ...``, "
        "from any folder once the collection is installed.",
        "",
    ]
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        lines += playbook_section(path)
    return "\n".join(lines) + "\n"


def run(argv: list) -> None:
    print("+", " ".join(str(arg) for arg in argv), flush=True)
    subprocess.run([str(arg) for arg in argv], check=True)


def main(argv: list) -> int:
    dest = Path(argv[1]).resolve() if len(argv) > 1 else REPO / ".build" / "docs"
    shutil.rmtree(dest, ignore_errors=True)
    rst = dest / "rst"
    rst.mkdir(parents=True)
    for folder in (dest, rst):  # antsibull-docs writes only into folders no one else may write to
        os.chmod(folder, 0o755)
    shutil.copy(SITE / "index.rst", rst / "index.rst")
    run(
        [
            "antsibull-docs",
            "--config-file",
            SITE / "antsibull-docs.cfg",
            "collection",
            "--use-current",
            "--fail-on-error",
            "--dest-dir",
            rst,
            COLLECTION,
        ]
    )
    (rst / "playbooks.rst").write_text(playbooks_page(REPO / "playbooks"))
    run(["sphinx-build", "-q", "-b", "html", "-c", SITE, "-W", "--keep-going", "-n", rst, dest / "html"])
    print(f"Docs site: {dest / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
