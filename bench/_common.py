"""Helpers shared by the benchmarks in bench/: running ad-hoc ansible, timing cases round-robin, summarising.

Importing this module puts the repository root on sys.path, so that the benchmarks can import tests.harness.
"""

from __future__ import annotations

import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.harness.ansible import ansible_env  # noqa: E402

# The ansible-core under test: this venv's, or another one's `ansible` named by BENCH_ANSIBLE (e.g. a
# tests/matrix venv: BENCH_ANSIBLE=.build/matrix/ansible-core-2.21/bin/ansible python bench/clients.py).
ANSIBLE = os.environ.get("BENCH_ANSIBLE") or str(Path(sys.executable).parent / "ansible")
AD_HOC = [ANSIBLE, "localhost", "-i", "localhost,", "-c", "local", "-m"]
WARMUP = 2


def core_version() -> str:
    """What `ansible --version` says first, e.g. "ansible [core 2.19.14]"."""
    done = subprocess.run([ANSIBLE, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout.splitlines() or ["ansible (version unknown)"])[0]


class RunFailed(RuntimeError):
    pass


def adhoc_env() -> dict:
    """The environment every ad-hoc run gets; `ansible` then prints with the minimal callback
    (`host | SUCCESS => {...}`)."""
    return ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"})


def run_command(argv: list, env: dict | None = None, expect: str | None = None) -> subprocess.CompletedProcess:
    """argv as a subprocess; RunFailed unless it exits 0 (and prints expect)."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode != 0 or (expect is not None and expect not in done.stdout):
        raise RunFailed(f"{shlex.join(argv)} (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def command_case(argv: list, env: dict | None = None, expect: str | None = None):
    """A case running argv as a subprocess, checking its exit code (and output)."""

    def run() -> None:
        run_command(argv, env, expect)

    return run


def measure(todo: dict, runs: int, each_round=None) -> dict:
    """Milliseconds per case, WARMUP untimed rounds first, then `runs` rounds, round-robin.

    A case may return a callable: it is called once the clock has stopped (checks of the output that
    should not count). each_round, when given, is called before every round and returns a context
    manager the round runs in (untimed set-up and checks, e.g. fresh clients for the round)."""
    times = {name: [] for name in todo}
    for round_ in range(WARMUP + runs):
        with each_round() if each_round is not None else nullcontext():
            for name, run in todo.items():
                start = time.perf_counter()
                check = run()
                elapsed = (time.perf_counter() - start) * 1000
                if callable(check):
                    check()
                if round_ >= WARMUP:
                    times[name].append(elapsed)
    return times


def spread(values: list) -> dict:
    """Median, 10th and 90th percentile of some timings in ms."""
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"median_ms": statistics.median(values), "p10_ms": deciles[0], "p90_ms": deciles[-1]}


def ratio_interval(numerator: list, denominator: list, resamples: int = 2000) -> tuple:
    """95% bootstrap interval of median(numerator) / median(denominator). The two lists are timed
    round-robin, so rounds are resampled as pairs (what disturbed one round disturbed both)."""
    pick = random.Random(0)
    rounds = range(len(numerator))
    ratios = []
    for _resample in range(resamples):
        sample = [pick.choice(rounds) for _round in rounds]
        ratios.append(
            statistics.median(numerator[i] for i in sample) / statistics.median(denominator[i] for i in sample)
        )
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def summarise(times: dict, baseline: str) -> dict:
    """spread() of each case, plus its median's ratio to the baseline case's median."""
    rows = {name: spread(values) for name, values in times.items()}
    reference = rows[baseline]["median_ms"]
    for row in rows.values():
        row["ratio_to_ping"] = row["median_ms"] / reference
    return rows
