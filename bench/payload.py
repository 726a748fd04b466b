"""What each module costs on the managed host, for this tree against another revision, in one run.

    python bench/payload.py --baseline b604e4f [--runs 20] [--callgrind] [--json out.json]

For every module: its AnsiballZ payload as Ansible builds it (ANSIBLE_KEEP_REMOTE_FILES) from this
tree and from the baseline (checked out into a temporary git worktree), the size of the payload and
the module_utils it carries, then the payload run on the host side alone (`python3 AnsiballZ_x.py`,
the module's own process, against one sandboxed libvirtd: import and run), both trees round-robin.
With --callgrind, also the instructions of one run of each under valgrind's callgrind, which do
not move with the machine's load. Prints each module's ratios (this tree / baseline).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ansiballz import build_payload, instructions, payload_contents, run_payload
from _common import REPO

from tests.harness.daemons import Daemon

# module -> (args, check mode): each leaves the daemon as it found it (or changes nothing in check mode).
CASES = {
    "libvirt_admin_server_info": ({}, False),
    "libvirt_admin_threadpool": ({"max_workers": 20}, False),
    "libvirt_admin_clients": ({"max_clients": 5000}, False),
    "libvirt_admin_logging": ({"filters": []}, False),
    "libvirt_admin_daemon": ({"servers": {"libvirtd": {"max_workers": 20, "max_clients": 5000}}}, False),
    "libvirt_admin_client_info": ({}, False),
    "libvirt_admin_tls": ({}, True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git revision to compare with (e.g. b604e4f)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--modules", nargs="*", default=list(CASES))
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="virtops-payload-"))
    baseline = work / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(baseline), options.baseline], check=True)
    results = {}
    try:
        with Daemon() as daemon:
            for module in options.modules:
                args, check = CASES[module]
                payloads = {
                    name: build_payload(
                        tree, f"virtops.libvirt_admin.{module}", {**args, "uri": daemon.uri}, check, work
                    )
                    for name, tree in (("tree", REPO), ("baseline", baseline))
                }
                times = {name: [] for name in payloads}
                for payload in payloads.values():
                    run_payload(payload)  # warm up
                for _round in range(options.runs):
                    for name, payload in payloads.items():
                        times[name].append(run_payload(payload))
                entry = {}
                for name, payload in payloads.items():
                    size, utils, names = payload_contents(payload)
                    entry[name] = {
                        "payload_bytes": size,
                        "module_utils_bytes": utils,
                        "module_utils": names,
                        "run_ms_median": statistics.median(times[name]) * 1000,
                    }
                    if options.callgrind:
                        entry[name]["instructions"] = instructions(payload, work)["total"]
                results[module] = entry
                tree, base = entry["tree"], entry["baseline"]
                line = (
                    f"{module:28} payload {tree['payload_bytes']:7} / {base['payload_bytes']:7} = "
                    f"{tree['payload_bytes'] / base['payload_bytes']:.3f}   run {tree['run_ms_median']:6.1f} / "
                    f"{base['run_ms_median']:6.1f} ms = {tree['run_ms_median'] / base['run_ms_median']:.3f}"
                )
                if options.callgrind:
                    line += f"   instructions {tree['instructions'] / base['instructions']:.3f}"
                print(line, flush=True)
                print(f"{'':28} module_utils now: {' '.join(tree['module_utils'])}", flush=True)
                print(f"{'':28} module_utils before: {' '.join(base['module_utils'])}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
