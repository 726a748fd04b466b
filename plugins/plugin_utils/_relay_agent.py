# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""The managed host's side of the admin_watch event source's SSH sessions.

Not imported on the controller: _ssh_relay sends this file's text to the host's own Python
(ansible_python_interpreter, with become) as the program of an SSH channel, in one of two modes:

    control SOURCES            the session's first channel: prints {"ready": ...} once, then for every
                               line "discover" on stdin prints the host's admin sockets as one JSON line,
                               found by module_utils/_discovery.py's discover(), the one server_info uses
                               (SOURCES: base64 JSON of the texts of _discovery and the module_utils it
                               imports, by name, served to the import system from memory); ends at EOF
    relay SOCKET_PATH          connects to a daemon's admin socket and writes READY on stdout (or
                               "error ERRNO TEXT" on stderr, and exits), then copies bytes between
                               stdin/stdout and the socket until either side closes; the controller
                               drops whatever came before READY (a login script's output)

Only the standard library, and Python 3.8 or newer, as on every managed host the modules support.
"""

import base64
import errno
import importlib
import importlib.abc
import importlib.util
import json
import os
import select
import socket
import sys

CHUNK = 65536
CONNECT_TIMEOUT = 10.0
READY = b"\n--virtops-relay-ready--\n"


def say(stream, text):
    stream.write(text + "\n")
    stream.flush()


PACKAGE = "ansible_collections.virtops.libvirt_admin.plugins.module_utils"


class Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The collection's module_utils that were sent, importable by their usual names (and their parent
    packages, empty), as on the controller."""

    def __init__(self, texts):
        self.texts = texts

    def find_spec(self, name, path=None, target=None):
        if name.startswith(PACKAGE + ".") and name[len(PACKAGE) + 1 :] in self.texts:
            return importlib.util.spec_from_loader(name, self, is_package=False)
        if name == PACKAGE or PACKAGE.startswith(name + "."):
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        short = module.__name__[len(PACKAGE) + 1 :]
        if module.__name__.startswith(PACKAGE + ".") and short in self.texts:
            exec(compile(self.texts[short], short + ".py", "exec"), module.__dict__)
        else:
            module.__path__ = []


def control(sources):
    sys.meta_path.insert(0, Sources(json.loads(base64.b64decode(sources).decode("utf-8"))))
    discovery = importlib.import_module(PACKAGE + "._discovery")
    version = ".".join(str(part) for part in sys.version_info[:3])
    say(sys.stdout, json.dumps({"ready": True, "uid": os.geteuid(), "python": version}))
    for line in sys.stdin:
        if line.strip() == "discover":
            found = [[daemon, uri] for daemon, uri in discovery.discover()]
            say(sys.stdout, json.dumps({"daemons": found}))
    return 0


def copy(source, target):
    """One read from fd source written whole to fd target; False at EOF (or a closed peer)."""
    try:
        data = os.read(source, CHUNK)
    except OSError as error:
        return error.errno in (errno.EAGAIN, errno.EINTR)
    if not data:
        return False
    view = memoryview(data)
    while view:
        try:
            written = os.write(target, view)
        except OSError:
            return False
        view = view[written:]
    return True


def relay(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(path)
    except OSError as error:
        code = error.errno if error.errno is not None else errno.ETIMEDOUT
        say(sys.stderr, f"error {code} {error.strerror or error}: {path}")
        return 3
    sock.setblocking(True)
    stdin, stdout, peer = sys.stdin.fileno(), sys.stdout.fileno(), sock.fileno()
    sys.stdout.flush()
    os.write(stdout, READY)
    while True:
        readable = select.select([stdin, peer], [], [])[0]
        if stdin in readable and not copy(stdin, peer):
            break  # the controller closed its end
        if peer in readable and not copy(peer, stdout):
            break  # the daemon closed the connection
    sock.close()
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "control":
        return control(argv[2])
    if len(argv) == 3 and argv[1] == "relay":
        return relay(argv[2])
    say(sys.stderr, "usage: control SOURCES | relay SOCKET_PATH")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
