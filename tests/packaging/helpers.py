"""What the packaging tests share: the collection's parts as the checkout has them, and a runner."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.harness.ansible import REPO

BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
VERSION = GALAXY["version"]


def modules() -> list:
    """Names of the collection's modules, as the checkout has them."""
    return sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def roles() -> list:
    folder = REPO / "roles"
    return sorted(path.name for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []


def playbooks() -> list:
    folder = REPO / "playbooks"
    return sorted(path.stem for pattern in ("*.yml", "*.yaml") for path in folder.glob(pattern))


def module_documentation(name: str) -> dict:
    """A module's DOCUMENTATION, read from its source."""
    tree = ast.parse((REPO / "plugins" / "modules" / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{name} has no DOCUMENTATION")


def run(argv: list, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, its output captured as text; never raises for the exit code."""
    return subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
        **kwargs,
    )


def virt_admin(uri: str, *args: str) -> str:
    done = run(["virt-admin", "-c", uri, *args])
    assert done.returncode == 0, done.stderr
    return done.stdout


def server_names(uri: str) -> list:
    """`virt-admin server-list`: the names below the header's dashes."""
    lines = virt_admin(uri, "server-list").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("---")) + 1
    return [line.split()[1] for line in lines[start:] if line.strip()]


def key_values(text: str) -> dict:
    """`virt-admin ...-info` output: KEY : VALUE lines, the values as int where they are."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): int(value) if value.strip().isdigit() else value.strip() for key, value in pairs}


def threadpool(uri: str, server: str) -> dict:
    return key_values(virt_admin(uri, "server-threadpool-info", server))


def client_limits(uri: str, server: str) -> dict:
    return key_values(virt_admin(uri, "server-clients-info", server))
