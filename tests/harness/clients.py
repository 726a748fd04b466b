"""Real libvirt clients, held open by a separate libvirt-python process.

libvirt-python (libvirt.so) and the collection's admin binding
(libvirt-admin.so) must not be initialised in one process (both register
libvirt's GObject types), so clients always live in a child process:

    with Clients([{"uri": "secret:///system?socket=..."}, ...]) as clients:
        clients.pid, clients.opened      # the child's pid; which opened
        clients.probe()                  # which connections still answer

A spec may ask for "readonly": true. "timeout": seconds makes the child give
up waiting for a connection the daemon does not serve (opened is then
false); "background": true opens it in a thread, to be checked later with
probe() while the daemon keeps it waiting.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Clients:
    def __init__(self, specs: list, nofile: int = 4096) -> None:
        self.specs = specs
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.clients", json.dumps({"specs": specs, "nofile": nofile})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        hello = self._read()
        self.opened = hello["opened"]
        self.errors = hello["errors"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process ended (rc {self.process.wait()})")
        return json.loads(line)

    def _ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def probe(self) -> list:
        """For each spec: True when its connection is open and answers a call."""
        return self._ask("probe")["alive"]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.communicate("", timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _child(config: dict) -> None:
    import resource
    import threading

    import libvirt

    libvirt.registerErrorHandler(lambda *args: None, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, min(config["nofile"], hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    specs = config["specs"]
    conns: list = [None] * len(specs)
    errors: list = [None] * len(specs)

    def open_one(index: int) -> None:
        spec = specs[index]
        try:
            opener = libvirt.openReadOnly if spec.get("readonly") else libvirt.open
            conns[index] = opener(spec["uri"])
        except libvirt.libvirtError as error:
            errors[index] = str(error)

    waiting = []
    for index, spec in enumerate(specs):
        thread = threading.Thread(target=open_one, args=(index,), daemon=True)
        thread.start()
        if spec.get("background"):
            waiting.append(thread)
        else:
            thread.join(spec.get("timeout"))
            if thread.is_alive():
                errors[index] = "not served within the timeout"
    print(json.dumps({"opened": [conn is not None for conn in conns], "errors": errors}), flush=True)

    def alive(conn) -> bool:
        if conn is None:
            return False
        try:
            conn.listAllSecrets(0)
            return True
        except libvirt.libvirtError:
            return False

    for line in sys.stdin:
        if line.strip() == "probe":
            print(json.dumps({"alive": [alive(conn) for conn in conns]}), flush=True)
    for conn in conns:
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
