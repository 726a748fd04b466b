"""A real load on a daemon's workers: wiping storage volumes in a dir pool.

virStorageVolWipe runs in a worker thread for as long as writing the volume
takes, so N wipes hold N workers with genuine work (no sleeps), and wipes
beyond max_workers wait in the job queue. The daemon needs the storage
driver: Daemon(drivers=("storage",)). The wipes run in a child process
(libvirt-python must not share a process with the admin binding).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class WipeLoad:
    def __init__(self, daemon, volumes: int = 4, size_mb: int = 300) -> None:
        self.config = {
            "uri": f"storage:///system?socket={daemon.socket}",
            "pool_dir": str(daemon.root / "pool"),
            "volumes": volumes,
            "size_mb": size_mb,
        }
        self.process: subprocess.Popen | None = None
        self.result: dict = {}

    def start(self) -> WipeLoad:
        """Create the pool and volumes, then start every wipe at once."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.load", json.dumps(self.config)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        if self.process.stdout.readline().strip() != "started":
            raise RuntimeError(f"the load did not start (rc {self.process.wait()})")
        return self

    def wait(self, timeout: float = 300) -> dict:
        """Per wipe: seconds from submitting to completion; errors, if any."""
        if self.process is not None and not self.result:
            out = self.process.communicate(timeout=timeout)[0]
            self.result = json.loads(out.strip().splitlines()[-1])
        return self.result

    def __enter__(self) -> WipeLoad:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.wait()


def _child(config: dict) -> None:
    import threading
    import time

    import libvirt

    libvirt.registerErrorHandler(lambda *args: None, None)
    Path(config["pool_dir"]).mkdir(exist_ok=True)
    conn = libvirt.open(config["uri"])
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>load</name><target><path>{config['pool_dir']}</path></target></pool>", 0
    )
    paths = [
        pool.createXML(
            f"<volume><name>v{index}.img</name><capacity unit='M'>{config['size_mb']}</capacity>"
            "<target><format type='raw'/></target></volume>",
            0,
        ).path()
        for index in range(config["volumes"])
    ]
    durations: dict = {}
    errors: list = []

    def wipe(path: str) -> None:
        client = libvirt.open(config["uri"])
        try:
            started = time.monotonic()
            client.storageVolLookupByPath(path).wipe(0)
            durations[path] = time.monotonic() - started
        except libvirt.libvirtError as error:
            errors.append(str(error))
        finally:
            client.close()

    threads = [threading.Thread(target=wipe, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    print("started", flush=True)
    for thread in threads:
        thread.join()
    pool.destroy()
    conn.close()
    print(json.dumps({"durations": sorted(durations.values()), "errors": errors}), flush=True)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
