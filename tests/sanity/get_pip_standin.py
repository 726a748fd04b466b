"""Stand-in for the get-pip.py that `ansible-test sanity --venv` downloads.

That download comes from a host these machines cannot reach; pip itself
comes from PyPI. Installed by `make setup` into ansible-test's cache.
"""

import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
if ARGS:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *ARGS])
