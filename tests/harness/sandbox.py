"""Run a command against a sandboxed libvirtd that this script starts and stops.

    python -m tests.harness.sandbox [--config key=value ...] -- COMMAND...

The daemon runs in a private mount namespace (never touching a system
daemon). COMMAND runs with LIBVIRT_ADMIN_DEFAULT_URI pointing at it and with
ANSIBLE_COLLECTIONS_PATH holding this collection, so modules and playbooks
reach the sandboxed daemon with no uri option. The daemon is stopped by its
pid when COMMAND ends, however it ends.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from tests.harness.ansible import ansible_env
from tests.harness.daemons import Daemon


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="libvirtd.conf setting")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    config = {}
    for item in args.config:
        key, value = item.split("=", 1) if "=" in item else (item, "")
        config[key] = int(value) if value.isdigit() else value
    with Daemon(config=config) as daemon:
        print(f"sandboxed libvirtd pid {daemon.pid}, admin URI {daemon.uri}", flush=True)
        env = ansible_env({"LIBVIRT_ADMIN_DEFAULT_URI": daemon.uri})
        for test_only in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS"):
            env.pop(test_only)
        code = subprocess.run(command, env=env, check=False).returncode
    print(f"sandboxed libvirtd stopped (exit {code})", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
