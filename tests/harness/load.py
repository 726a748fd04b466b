"""A real load on a daemon's workers: wiping storage volumes in a dir pool.

virStorageVolWipe runs in a worker thread for as long as writing the volume
takes, so N wipes hold N workers with genuine work (no sleeps), and wipes
beyond max_workers wait in the job queue. The daemon needs the storage
driver: Daemon(drivers=("storage",)). The wipes run in a child process
(libvirt-python must not share a process with the admin binding).

WipeLoad submits a fixed batch of wipes at once and reports how long each
took. JobLoad is a steady load that runs until stopped and records every
job it submits:

    with JobLoad(daemon, long_clients=4, long_mb=200) as load:
        load.jobs()          # every job so far: submitted, started, finished (time.monotonic())
    load.result              # {"jobs": [...], "errors": [...]} once stopped

Its long jobs (one client per volume, each wiping its volume again as soon
as the last wipe returned) keep every worker of a small pool busy and the
queue non-empty; its short jobs (one client wiping a 64 KiB volume every
short_every seconds) are the "next request": they take milliseconds once a
worker has them, so their wait is the queue's. A job's start is seen, not
guessed: the moment its volume's file is first written (its mtime moves),
watched every 10 ms. The clock is time.monotonic(), which a parent
process shares. With resilient=True the pool is persistent and autostarts,
and each client reconnects after its daemon went away (a killed and
restarted daemon), recording the failed jobs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
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


class JobLoad:
    """A steady load of volume wipes from several clients of one daemon, until stopped (see the module's doc)."""

    def __init__(
        self,
        daemon,
        long_clients: int = 4,
        long_mb: int = 200,
        short_every: float = 0.5,
        short_kb: int = 64,
        resilient: bool = False,
        name: str = "jobs",
    ) -> None:
        self.config = {
            "mode": "jobs",
            "uri": f"storage:///system?socket={daemon.socket}",
            "pool": name,
            "pool_dir": str(daemon.root / f"pool-{name}"),
            "long_clients": long_clients,
            "long_mb": long_mb,
            "short_every": short_every,
            "short_kb": short_kb,
            "resilient": resilient,
        }
        self.process: subprocess.Popen | None = None
        self.result: dict = {}
        self._asking = threading.RLock()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> JobLoad:
        """Create the pool and volumes, open every client's connection, start submitting."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.load", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        hello = self._read()
        if not hello.get("started"):
            self.process.wait()
            raise RuntimeError(f"the load did not start: {hello}")
        return self

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load's process ended (rc {self.process.wait()})")
        return json.loads(line)

    def _ask(self, command: str) -> dict:
        with self._asking:  # one question at a time, whichever thread asks
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            return self._read()

    def jobs(self) -> list:
        """Every job so far, in order of submission: kind ("long" or "short"), client, and the
        time.monotonic() it was submitted, started and finished (None: not yet, or not seen), error
        (None, or the libvirt error of a job that failed)."""
        with self._asking:
            if self.result:
                return self.result["jobs"]
            return self._ask("jobs")["jobs"]

    def stop(self) -> dict:
        """Stop submitting, wait for the jobs in progress, delete the volumes and the pool;
        {"jobs": [...], "errors": [...]} (errors: connections lost or refused, with their time)."""
        with self._asking:
            if self.process is not None and not self.result:
                self.result = self._ask("stop")
                self.process.wait(timeout=60)
            return self.result

    def kill(self) -> None:
        """End the load's process now (by its pid), without waiting for its jobs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> JobLoad:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop()
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                self.kill()


def waits(
    jobs: list, kind: str, after: float | None = None, before: float | None = None, until: str = "started"
) -> list:
    """Seconds from submission to start (or until="finished") of the jobs of a kind submitted in
    [after, before) that ran without error and whose start was seen."""
    return [
        job[until] - job["submitted"]
        for job in jobs
        if job["kind"] == kind
        and job["error"] is None
        and job["started"] is not None
        and job["finished"] is not None
        and (after is None or job["submitted"] >= after)
        and (before is None or job["submitted"] < before)
    ]


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


def _jobs_child(config: dict) -> None:
    """JobLoad's process: one thread per client, a watcher thread, and the main thread answering
    the parent on stdin ("jobs", "stop"; end of input also stops)."""
    import os
    import threading
    import time

    import libvirt

    libvirt.registerErrorHandler(lambda *args: None, None)
    uri, resilient = config["uri"], config["resilient"]
    pool_dir = Path(config["pool_dir"])
    pool_dir.mkdir(exist_ok=True)
    setup = libvirt.open(uri)
    pool_xml = f"<pool type='dir'><name>{config['pool']}</name><target><path>{pool_dir}</path></target></pool>"
    if resilient:  # a restarted daemon starts it again, with its volumes
        pool = setup.storagePoolDefineXML(pool_xml, 0)
        pool.setAutostart(1)
        pool.create(0)
    else:
        pool = setup.storagePoolCreateXML(pool_xml, 0)

    def volume(name: str, capacity: str) -> str:
        xml = f"<volume><name>{name}</name><capacity unit='{capacity[-1]}'>{capacity[:-1]}</capacity>"
        return pool.createXML(xml + "<target><format type='raw'/></target></volume>", 0).path()

    clients = [
        ("long", index, volume(f"long{index}.img", f"{config['long_mb']}M")) for index in range(config["long_clients"])
    ]
    clients.append(("short", 0, volume("short.img", f"{config['short_kb']}K")))
    # Every connection opened now, while the pool is idle: opening one later would itself queue.
    conns = [libvirt.open(uri) for spec in clients]
    setup.close()

    jobs: list = []
    errors: list = []
    lock = threading.Lock()
    stop = threading.Event()
    watched: dict = {}  # path -> (job, mtime before it was submitted)

    def client(kind: str, index: int, path: str, conn) -> None:
        pause = config["short_every"] if kind == "short" else 0
        vol = conn.storageVolLookupByPath(path)
        while not stop.is_set():
            if conn is None:  # resilient: the daemon went away; connect again
                try:
                    conn = libvirt.open(uri)
                    vol = conn.storageVolLookupByPath(path)
                except libvirt.libvirtError as error:
                    conn = None
                    with lock:
                        errors.append({"time": time.monotonic(), "kind": kind, "client": index, "error": str(error)})
                    stop.wait(0.2)
                    continue
            if pause and stop.wait(pause):
                break
            baseline = os.stat(path).st_mtime_ns
            job = {"kind": kind, "client": index, "started": None, "finished": None, "error": None}
            with lock:
                job["submitted"] = time.monotonic()
                jobs.append(job)
                watched[path] = (job, baseline)
            try:
                vol.wipe(0)
            except libvirt.libvirtError as error:
                job["error"] = str(error)
            job["finished"] = time.monotonic()
            with lock:
                watched.pop(path, None)
            mtime = os.stat(path).st_mtime_ns
            if job["started"] is None and job["error"] is None and mtime != baseline:
                # Started and done between two looks: the file's last write time (wall clock) tells when.
                written = mtime / 1e9 - (time.time() - time.monotonic())
                job["started"] = min(max(written, job["submitted"]), job["finished"])
            if job["error"] is not None:
                with lock:
                    errors.append({"time": job["finished"], "kind": kind, "client": index, "error": job["error"]})
                if not resilient:
                    break
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
                conn = None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def watch() -> None:
        while not stop.is_set() or watched:
            with lock:
                pending = [(path, job, baseline) for path, (job, baseline) in watched.items() if job["started"] is None]
            for path, job, baseline in pending:
                with contextlib.suppress(OSError):
                    if os.stat(path).st_mtime_ns != baseline:
                        job["started"] = time.monotonic()
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(*spec, conn), daemon=True) for spec, conn in zip(clients, conns)]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(job["kind"] == "long" for job in jobs) < config["long_clients"]:
        time.sleep(0.01)
    print(json.dumps({"started": True, "volumes": [spec[2] for spec in clients]}), flush=True)

    def snapshot() -> dict:
        with lock:
            return {"jobs": [dict(job) for job in jobs], "errors": list(errors)}

    for line in sys.stdin:
        if line.strip() == "jobs":
            print(json.dumps(snapshot()), flush=True)
        elif line.strip() == "stop":
            break
    stop.set()
    for thread in threads:
        thread.join(120)
    watcher.join(5)
    with contextlib.suppress(libvirt.libvirtError):
        conn = libvirt.open(uri)
        pool = conn.storagePoolLookupByName(config["pool"])
        for spec in clients:
            with contextlib.suppress(libvirt.libvirtError):
                conn.storageVolLookupByPath(spec[2]).delete(0)
        pool.destroy()
        if resilient:
            pool.undefine()
        conn.close()
    print(json.dumps(snapshot()), flush=True)


if __name__ == "__main__":
    _config = json.loads(sys.argv[1])
    (_jobs_child if _config.get("mode") == "jobs" else _child)(_config)
