"""Run the collection's modules and playbooks through Ansible itself."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness.libvirt_versions import Libvirt

REPO = Path(__file__).resolve().parents[2]
FQCN = "virtops.libvirt_admin"
# Modules run on the "managed host" with the system Python when there is one:
# they must need nothing beyond the standard library.
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
BIN = Path(sys.executable).parent


def collections_path() -> str:
    """A folder holding ansible_collections/virtops/libvirt_admin -> this repo, one per checkout (two
    checkouts tested at once must not re-point each other's link)."""
    checkout = hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
    base = Path(tempfile.gettempdir()) / f"virtops-collections-{os.getuid()}-{checkout}"
    link = base / "ansible_collections" / "virtops" / "libvirt_admin"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != REPO:
        tmp = link.with_name(f".libvirt_admin.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(REPO)
        tmp.replace(link)
    return str(base)


def interpreter(libvirt: str | None = None) -> str:
    """The Python the modules run with: TARGET_PYTHON, or for another libvirt version
    (e.g. "11.3") a wrapper that puts that version's libraries on LD_LIBRARY_PATH
    and execs TARGET_PYTHON. Only the module's process gets them: the controller's
    Python and Ansible's own processes keep the system's."""
    version = Libvirt.get(libvirt)
    if version.system:
        return TARGET_PYTHON
    wrapper = Path(tempfile.gettempdir()) / f"virtops-python-{os.getuid()}" / f"libvirt-{version.name}" / "python3"
    text = (
        "#!/bin/sh\n"
        f"# Written by tests/harness/ansible.py: {TARGET_PYTHON} with libvirt {version.version}'s libraries.\n"
        f"LD_LIBRARY_PATH={shlex.quote(version.library_path)}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\n"
        "export LD_LIBRARY_PATH\n"
        f'exec {shlex.quote(TARGET_PYTHON)} "$@"\n'
    )
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        tmp = wrapper.with_name(f".python3.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(wrapper)  # atomic: pytest-xdist workers may write it at once
    return str(wrapper)


def ansible_env(extra: dict | None = None, libvirt: str | None = None) -> dict:
    """Environment for ansible and ansible-playbook; libvirt: the libvirt version the modules load."""
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_STDOUT_CALLBACK": "task_results",
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_PYTHON_INTERPRETER": interpreter(libvirt),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    env.pop("LIBVIRT_ADMIN_DEFAULT_URI", None)
    env.update(extra or {})
    return env


class Result(dict):
    """A task result (the module's return values) plus the run's output."""

    stdout = ""
    stderr = ""
    rc = 0

    @property
    def changed(self) -> bool:
        return bool(self.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))

    @property
    def msg(self) -> str:
        return str(self.get("msg", ""))


def run_module(
    module: str,
    args: dict,
    check: bool = False,
    diff: bool = False,
    env: dict | None = None,
    prefix: list | None = None,
    extra_args: list | None = None,
    libvirt: str | None = None,
) -> Result:
    """`ansible localhost -m virtops.libvirt_admin.<module> -a <args>`; the task's result.

    libvirt: the libvirt version whose libraries the module loads (None: the system's, or
    $VIRTOPS_LIBVIRT_VERSION when set; "11.3": the one `make setup` unpacked in .build/libvirt-11.3)."""
    argv = [
        *(prefix or []),
        str(BIN / "ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        f"{FQCN}.{module}",
        "-a",
        json.dumps(args),
        *(["--check"] if check else []),
        *(["--diff"] if diff else []),
        *(extra_args or []),
    ]
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=ansible_env(env, libvirt), timeout=120, check=False
    )
    try:
        report = json.loads(completed.stdout)
        result = Result(report["tasks"][-1]["result"])
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(
            f"no task result from ansible (rc {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        ) from exc
    result.stdout, result.stderr, result.rc = completed.stdout, completed.stderr, completed.returncode
    return result


def run_playbook(
    playbook: str | Path,
    extra_vars: dict | None = None,
    args: list | None = None,
    env: dict | None = None,
    libvirt: str | None = None,
):
    """ansible-playbook with the default callback; returns CompletedProcess. libvirt: as for run_module."""
    argv = [
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        str(playbook),
        *(["-e", json.dumps(extra_vars)] if extra_vars else []),
        *(args or []),
    ]
    run_env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default", **(env or {})}, libvirt)
    return subprocess.run(argv, capture_output=True, text=True, env=run_env, timeout=300, check=False)
