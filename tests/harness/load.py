"""A real load on a daemon's workers: wiping storage volumes in a dir pool.

virStorageVolWipe runs in a worker thread for as long as writing the volume
takes, so N wipes hold N workers with genuine work (no sleeps), and wipes
beyond max_workers wait in the job queue. The daemon needs the storage
driver: Daemon(drivers=("storage",)).
"""

from __future__ import annotations

import threading
import time

import libvirt


class WipeLoad:
    def __init__(self, daemon, volumes: int = 4, size_mb: int = 300) -> None:
        self.daemon = daemon
        self.uri = f"storage:///system?socket={daemon.socket}"
        self.pool_dir = daemon.root / "pool"
        self.pool_dir.mkdir(exist_ok=True)
        self.conn = libvirt.open(self.uri)
        self.pool = self.conn.storagePoolCreateXML(
            f"<pool type='dir'><name>load</name><target><path>{self.pool_dir}</path></target></pool>", 0
        )
        self.paths = [
            self.pool.createXML(
                f"<volume><name>v{index}.img</name><capacity unit='M'>{size_mb}</capacity>"
                "<target><format type='raw'/></target></volume>",
                0,
            ).path()
            for index in range(volumes)
        ]
        self.threads: list = []
        self.durations: dict = {}
        self.errors: list = []

    def _wipe(self, path: str) -> None:
        conn = libvirt.open(self.uri)
        try:
            started = time.monotonic()
            conn.storageVolLookupByPath(path).wipe(0)
            self.durations[path] = time.monotonic() - started
        except libvirt.libvirtError as error:
            self.errors.append(error)
        finally:
            conn.close()

    def start(self) -> WipeLoad:
        self.threads = [threading.Thread(target=self._wipe, args=(path,)) for path in self.paths]
        for thread in self.threads:
            thread.start()
        return self

    def wait(self, timeout: float = 120) -> None:
        for thread in self.threads:
            thread.join(timeout)
        assert not self.errors, self.errors

    def close(self) -> None:
        self.wait()
        self.pool.destroy()
        self.conn.close()

    def __enter__(self) -> WipeLoad:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
