"""Run a molecule scenario of the role daemon_state, as molecule runs it, and check each step passed."""

from __future__ import annotations

import os
import re
import subprocess

from tests.harness.ansible import BIN, REPO

ROLE = REPO / "roles" / "daemon_state"
STEPS = ("check", "converge", "idempotence", "verify")


def run_scenario(scenario: str, env: dict | None = None, prefix: tuple = ()) -> str:
    """`molecule test -s scenario` in the role's folder (after prefix, e.g. a sandbox command), with
    this checkout on PYTHONPATH and the venv on PATH; asserts it exits 0 and that each of STEPS ran
    successfully, and returns its output without colours. env: variables to set (None: to remove)."""
    run_env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    run_env.pop("LIBVIRT_ADMIN_DEFAULT_URI", None)
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    completed = subprocess.run(
        [*prefix, str(BIN / "molecule"), "test", "-s", scenario],
        cwd=ROLE,
        capture_output=True,
        text=True,
        env=run_env,
        timeout=600,
        check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout + completed.stderr)
    assert completed.returncode == 0, output[-6000:]
    for step in STEPS:
        assert re.search(rf"{scenario} \W+ {step}: Executed: Successful", output), output[-3000:]
    return output
