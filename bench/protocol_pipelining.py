"""Does pipelining pay? 1000 client_info calls over one ProtocolConnection, 3 threads at a time (as the
per-client code makes them), with the calls in flight together (pipelined: serial numbers match the
replies) against one at a time (each call waits for the one before it to be answered), against a real
sandboxed libvirtd with N real clients connected (tests/harness/clients.py holds them open).

The two ways alternate, round after round, in the same run (so that machine noise hits both alike);
the ratio one-at-a-time / pipelined is the speed-up, with a 95% bootstrap interval over the rounds.
The C library (_library.LibraryConnection, one connection, the same 3 threads) is timed too, for reference.

    python bench/protocol_pipelining.py [--clients 1000] [--calls 1000] [--rounds 7] [--version 11.3]
                                        [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from clients import FD_HEADROOM, ensure_nofile

from tests.harness.ansible import collections_path
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon

SERVER = "libvirtd"
THREADS = 3  # _clientcalls.CALLS_PER_CONNECTION
PIPELINED, ONE_AT_A_TIME, LIBRARY = "pipelined", "one at a time", "C library (reference)"


def protocol_round(uri: str, pipelining: bool, calls: int) -> float:
    """Seconds for `calls` client_info calls (cycling over the listed clients) on one connection."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection

    with ProtocolConnection(uri) as conn:
        conn.pipelining = pipelining
        with conn.clients(SERVER) as listed:
            targets = [listed[index % len(listed)] for index in range(calls)]
            with ThreadPoolExecutor(THREADS) as pool:
                start = time.perf_counter()
                infos = list(pool.map(conn.client_info, targets))
                elapsed = time.perf_counter() - start
    if len(infos) != calls or not all("unix_process_id" in info for info in infos):
        raise SystemExit("a client_info call returned no process id")
    return elapsed


def library_round(uri: str, calls: int) -> float:
    """The same through the C library (_library.LibraryConnection, which libvirt's client pipelines itself)."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._library import LibraryConnection

    with LibraryConnection(uri) as conn, conn.clients(SERVER) as listed:
        targets = [listed[index % len(listed)] for index in range(calls)]
        with ThreadPoolExecutor(THREADS) as pool:
            start = time.perf_counter()
            infos = list(pool.map(conn.client_info, targets))
            elapsed = time.perf_counter() - start
    if len(infos) != calls:
        raise SystemExit("the library returned fewer infos than asked")
    return elapsed


def bootstrap_ratio(slow: list, fast: list, samples: int = 2000) -> tuple:
    """95% interval of median(slow) / median(fast), resampling the rounds in pairs."""
    rng = random.Random(1)
    pairs = list(zip(slow, fast))
    ratios = []
    for _index in range(samples):
        drawn = [rng.choice(pairs) for _pair in pairs]
        ratios.append(statistics.median(a for a, _b in drawn) / statistics.median(b for _a, b in drawn))
    ratios.sort()
    return ratios[int(0.025 * samples)], ratios[int(0.975 * samples) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="real clients connected to the daemon")
    parser.add_argument("--calls", type=int, default=1000, help="client_info calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--version", default=None, help="libvirt version of the daemon (default: the system's)")
    parser.add_argument("--no-library", action="store_true", help="skip the C library reference")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    sys.path.insert(0, collections_path())
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection

    with Daemon(drivers=("secret",), version=args.version) as daemon:
        ensure_nofile(daemon.pid, args.clients + FD_HEADROOM)
        spec = {"uri": f"secret:///system?socket={daemon.socket}", "timeout": 30}
        with Clients([spec] * args.clients, nofile=args.clients + FD_HEADROOM) as clients:
            if not all(clients.opened):
                raise SystemExit(f"only {sum(clients.opened)} of {args.clients} clients connected")
            times = {PIPELINED: [], ONE_AT_A_TIME: [], LIBRARY: []}
            protocol_round(daemon.uri, True, 50)  # warm-up
            for _round in range(args.rounds):
                order = [PIPELINED, ONE_AT_A_TIME] if _round % 2 == 0 else [ONE_AT_A_TIME, PIPELINED]
                for way in order:
                    times[way].append(protocol_round(daemon.uri, way == PIPELINED, args.calls))
                if not args.no_library:
                    times[LIBRARY].append(library_round(daemon.uri, args.calls))
            with ProtocolConnection(daemon.uri) as conn:
                version = conn.daemon_version()

    print(
        f"libvirtd {version // 1000000}.{version // 1000 % 1000}.{version % 1000}, {args.clients} clients, "
        f"{args.calls} client_info calls per round, {THREADS} threads, one connection, {args.rounds} rounds"
    )
    for way, values in times.items():
        if values:
            print(
                f"  {way:22} median {statistics.median(values) * 1000:8.1f} ms  (min {min(values) * 1000:.1f}, "
                f"max {max(values) * 1000:.1f})  {args.calls / statistics.median(values):7.0f} calls/s"
            )
    ratio = statistics.median(times[ONE_AT_A_TIME]) / statistics.median(times[PIPELINED])
    low, high = bootstrap_ratio(times[ONE_AT_A_TIME], times[PIPELINED])
    print(f"  one at a time / pipelined: {ratio:.2f} (95% interval {low:.2f} to {high:.2f})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump({"version": version, "args": vars(args), "seconds": times, "ratio": [ratio, low, high]}, stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
