"""A task's host side on its own: the AnsiballZ payload Ansible builds for a module, run directly.

Shared by bench/payload.py (this tree against a baseline revision) and bench/server_info.py (the
collection's modules against ansible.builtin.ping and a virt-admin command task). Timing or counting
`python3 AnsiballZ_x.py` leaves out the controller (templating, connection plugin, callback), which
is the same for every module and dominates a task's wall time.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from _common import ansible_env  # first: _common puts the repository root on sys.path

from tests.harness.ansible import TARGET_PYTHON


def collections_for(tree: Path, work: Path) -> Path:
    """A collections path in work whose virtops.libvirt_admin is tree."""
    base = work / f"collections-{tree.name}"
    link = base / "ansible_collections" / "virtops" / "libvirt_admin"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(tree)
    return base


def build_payload(tree: Path, module: str, args: dict, check: bool, work: Path, label: str = "") -> Path:
    """Run module (a full name, e.g. ansible.builtin.ping) once through ansible with args, keeping its
    AnsiballZ file; returns a copy of it in work, named after label (default: the module)."""
    label = label or module.rsplit(".", 1)[-1]
    remote = work / f"remote-{tree.name}-{label}"
    env = ansible_env(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(collections_for(tree, work)),
            "ANSIBLE_KEEP_REMOTE_FILES": "1",
            "ANSIBLE_REMOTE_TMP": str(remote),
            "ANSIBLE_STDOUT_CALLBACK": "default",
        }
    )
    argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local"]
    argv += ["-m", module, *(["-a", json.dumps(args)] if args else []), *(["--check"] if check else [])]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{module} from {tree} failed:\n{done.stdout}\n{done.stderr}")
    name = module.rsplit(".", 1)[-1]
    found = sorted(remote.glob(f"**/AnsiballZ_{name}.py"))
    if not found:
        raise SystemExit(f"no AnsiballZ file of {module} under {remote}")
    kept = work / f"{tree.name}-{label}-AnsiballZ_{name}.py"
    shutil.copy(found[-1], kept)
    return kept


def payload_contents(payload: Path) -> tuple:
    """(bytes of the embedded zip, uncompressed bytes of the collection's module_utils, their names)."""
    text = payload.read_text()
    match = re.search(r"^zip_data\s*=\s*(?:r|b)?'([A-Za-z0-9+/=]+)'", text, re.M)
    if match is None:
        raise SystemExit(f"no embedded zip in {payload}")
    data = base64.b64decode(match.group(1))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        utils = [info for info in archive.infolist() if "/virtops/libvirt_admin/plugins/module_utils/" in info.filename]
        names = sorted(Path(info.filename).stem for info in utils if not info.filename.endswith("__init__.py"))
        return len(data), sum(info.file_size for info in utils), names


def run_payload(payload: Path) -> float:
    """Seconds one run of the payload takes; SystemExit when the module fails."""
    start = time.perf_counter()
    done = subprocess.run([TARGET_PYTHON, str(payload)], capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or '"failed": true' in done.stdout:
        raise SystemExit(f"{payload} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def instructions(payload: Path, work: Path, functions: tuple = ()) -> dict:
    """Instructions of one run of the payload under valgrind's callgrind, its child processes included
    (a command task's virt-admin), which do not move with the machine's load: {"total": n} plus, for
    each C function named in functions (e.g. Py_CompileStringObject, where CPython compiles source),
    the instructions spent in it and below it."""
    out = work / f"callgrind.{payload.stem}"
    for old in work.glob(f"{out.name}.*"):
        old.unlink()
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}.%p"]
    done = subprocess.run(
        [*valgrind, TARGET_PYTHON, str(payload)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    if done.returncode != 0 or '"failed": true' in done.stdout:
        raise SystemExit(f"{payload} failed under callgrind:\n{done.stdout}\n{done.stderr[-2000:]}")
    counts = dict.fromkeys(("total", *functions), 0)
    for part in work.glob(f"{out.name}.*"):
        for line in part.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                counts["total"] += int(line.split()[1])
                break
        if functions:
            annotated = subprocess.run(
                ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(part)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for function in functions:
                for line in annotated.splitlines():
                    if line.rstrip().endswith(f":{function} [{Path(TARGET_PYTHON).resolve()}]"):
                        counts[function] += int(line.split()[0].replace(",", ""))
                        break
    if not counts["total"]:
        raise SystemExit(f"no instruction total in {out}.*")
    return counts
