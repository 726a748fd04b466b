"""The real ansible-rulebook, run as a user runs it, its output read back.

    with Rulebook("virtops.libvirt_admin.guard", inventory, variables={...}, env=fleet.env()) as rulebook:
        rulebook.wait_for("daemon_down: host02")       # text in its output (a debug action's message ...)
        rulebook.events()                              # every event it received (--print-events), as dicts

ansible-rulebook's exit code says nothing about its actions (it exits 0 when a run_playbook failed): a
test judges by the daemons' state, and by the output only for what only the output can say (events,
notifications). The process runs in a session of its own, so that stop() ends it, its JVM and the
playbooks it started, by its process group id.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.ansible import BIN, ansible_env

EVENT_BLOCK = re.compile(r"\[received event\] \*+\nRuleset: [^\n]*\nEvent:\n(.*?)\n\*{20,}", re.S)
READY = "Waiting for events"


class Rulebook:
    def __init__(
        self,
        rulebook: str,
        inventory: Path,
        variables: dict | None = None,
        env: dict | None = None,
        workdir: Path | None = None,
        prefix: list | None = None,
    ) -> None:
        self.workdir = Path(workdir or inventory.parent)
        self.output_path = self.workdir / "ansible-rulebook.out"
        argv = [str(BIN / "ansible-rulebook"), "-r", rulebook, "-i", str(inventory), "--print-events", "-v"]
        if variables:
            vars_path = self.workdir / "rulebook-vars.json"
            vars_path.write_text(json.dumps(variables))
            argv += ["--vars", str(vars_path)]
        self.argv = [*(prefix or []), *argv]
        # ansible-runner runs the playbooks with a stdout callback of its own, which the tests' task_results
        # callback would replace (and break): the default one.
        base = env or ansible_env()
        self.env = {**base, "ANSIBLE_STDOUT_CALLBACK": "default", "PYTHONUNBUFFERED": "1", "ANSIBLE_NOCOLOR": "1"}
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def start(self, timeout: float = 60.0) -> Rulebook:
        with open(self.output_path, "wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self.started = time.monotonic()
        try:
            self.wait_for(READY, timeout)
        except BaseException:
            self.stop()  # __exit__ does not run when __enter__ fails
            raise
        return self

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def events(self) -> list:
        """Every event received so far, as the source put it (with ansible-rulebook's meta)."""
        return [ast.literal_eval(block) for block in EVENT_BLOCK.findall(self.output)]

    def watch_events(self) -> list:
        """The libvirt_admin part of every event received so far."""
        return [event["libvirt_admin"] for event in self.events() if "libvirt_admin" in event]

    def wait_for(self, text: str, timeout: float = 60.0, count: int = 1) -> None:
        """Until text appears count times in the output; AssertionError (with the output's tail) if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output.count(text) >= count:
                return
            if not self.running:
                break
            time.sleep(0.1)
        state = "running" if self.running else f"exited with {self.process.returncode}"
        tail = self.output[-6000:]
        raise AssertionError(f"{text!r} not in ansible-rulebook's output within {timeout} s ({state}):\n{tail}")

    def stop(self) -> None:
        """End ansible-rulebook and everything it started (its process group), by its pid."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Rulebook:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
