# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""One long-lived SSH session per managed host, and the host's admin sockets relayed through it.

The admin API is local only, so the admin_watch event source reaches a remote daemon's admin socket
through SSH: one `ssh -M` master per host (OpenSSH's ControlMaster, one TCP connection and one
authentication), whose own channel runs the host's Python (_relay_agent.py, in control mode: it says
it is ready and lists the host's admin sockets on request), and one more channel per daemon over the
same connection (`ssh -S`), whose program, the host's Python again (relay mode), connects to the
daemon's admin socket and copies bytes both ways. That channel's stdin and stdout are one end of a
socketpair on the controller: the master reads and writes it directly (OpenSSH passes the file
descriptors to the master), and the other end, once the agent has said it is connected (a mark on
stdout; whatever a login script printed before it is dropped), is a connected stream socket that the
protocol backend speaks libvirt's admin RPC protocol over. Both remote programs run with become (sudo -n) when asked,
since a system daemon's admin socket is root's.

Nothing here runs on a managed host but the agent; this module runs ssh on the controller only.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

AGENT = Path(__file__).with_name("_relay_agent.py")
# What the agent writes on a relay channel once connected to the admin socket (as _relay_agent.READY).
READY = b"\n--virtops-relay-ready--\n"
BOOTSTRAP = "import base64,sys;exec(base64.b64decode(sys.argv.pop(1)))"
# ssh's own options for a watch session: no prompts, a dead peer noticed within about 15 s.
SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
)


class SessionError(Exception):
    """The host cannot be reached, or its session ended; message says why (ssh's own words)."""


class RelayError(Exception):
    """The session works but a daemon's admin socket could not be reached; errno is the host's."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class HostSpec:
    """How to reach one host, from its Ansible connection variables."""

    def __init__(
        self,
        name: str,
        address: str | None = None,
        port: int | None = None,
        user: str | None = None,
        private_key_file: str | None = None,
        ssh_args: list | None = None,
        become: bool = False,
        become_user: str = "root",
        become_exe: str = "sudo",
        python: str = "/usr/bin/python3",
        local: bool = False,
    ) -> None:
        self.name = name
        self.address = address or name
        self.port = port
        self.user = user
        self.private_key_file = private_key_file
        self.ssh_args = list(ssh_args or [])
        self.become = become
        self.become_user = become_user
        self.become_exe = become_exe
        self.python = python
        self.local = local  # ansible_connection local: watched on the controller itself

    def __repr__(self) -> str:
        return f"<HostSpec {self.name} {self.user or ''}@{self.address}:{self.port or 22}>"

    def remote_command(self, *args: str) -> str:
        """The command line the host's shell runs for the agent with args (become first, when asked)."""
        agent = base64.b64encode(AGENT.read_bytes()).decode()
        argv = [*shlex.split(self.python), "-c", BOOTSTRAP, agent, *args]
        if self.become:
            argv = [*shlex.split(self.become_exe), "-n", "-u", self.become_user, "--", *argv]
        return shlex.join(argv)


MODULE_UTILS = "ansible_collections.virtops.libvirt_admin.plugins.module_utils"
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _imported(tree: ast.Module) -> set:
    """The collection's module_utils a module imports when it is imported (its top-level imports, not those
    inside its functions), by short name (_admin, ...)."""
    names = set()
    top = [node for statement in tree.body for node in ast.walk(statement) if not isinstance(statement, _FUNCTIONS)]
    for node in top:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == MODULE_UTILS:
                names.update(alias.name for alias in node.names)
            elif node.module.startswith(MODULE_UTILS + "."):
                names.add(node.module[len(MODULE_UTILS) + 1 :].split(".")[0])
    return names


def module_utils_texts(first: str = "_discovery") -> dict:
    """The text of module_utils/<first>.py and of every module_utils it imports, and those import, by name."""
    folder = Path(__file__).resolve().parents[1] / "module_utils"
    texts, todo = {}, [first]
    while todo:
        name = todo.pop()
        if name in texts:
            continue
        texts[name] = (folder / f"{name}.py").read_text()
        todo.extend(_imported(ast.parse(texts[name])) - set(texts))
    return texts


def discovery_source() -> str:
    """What the agent needs to run server_info's discover() on the host: module_utils/_discovery.py and
    the module_utils it imports, as base64 JSON."""
    return base64.b64encode(json.dumps(module_utils_texts()).encode()).decode()


def _read_line(fd: int, deadline: float, what: str) -> bytes:
    """One line from fd (a pipe) by deadline (time.monotonic()); b"" at EOF."""
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"no answer within the time allowed ({what})")
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk
    return data


def _await_relay(sock: socket.socket, stderr: int, deadline: float) -> tuple:
    """Wait for the agent's READY on sock (what came before it dropped) or for the channel to end:
    (ready, the lines the host wrote on stderr)."""
    seen, errors = b"", b""
    sock_open, stderr_open = True, True
    while sock_open or stderr_open:
        left = deadline - time.monotonic()
        waiting = [fd for fd, still in ((sock.fileno(), sock_open), (stderr, stderr_open)) if still]
        if left <= 0 or not (readable := select.select(waiting, [], [], left)[0]):
            raise TimeoutError("no answer within the time allowed")
        if sock_open and sock.fileno() in readable:
            chunk = sock.recv(4096)
            sock_open = bool(chunk)
            seen = (seen + chunk)[-4 * len(READY) :]
            if READY in seen:  # the agent writes nothing after it until spoken to
                return True, []
        if stderr_open and stderr in readable:
            chunk = os.read(stderr, 4096)
            stderr_open = bool(chunk)
            errors += chunk
    return False, [line.strip() for line in errors.decode(errors="replace").splitlines() if line.strip()]


def _stop(process: subprocess.Popen | None, timeout: float = 2.0) -> None:
    """End a process this module started, by its pid, and reap it."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Relay:
    """One daemon's admin socket on the host, reached through the session: sock is the controller's end."""

    def __init__(self, sock: socket.socket, process: subprocess.Popen) -> None:
        self.sock = sock
        self.process = process

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        _stop(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()


class SshSession:
    """The watch's one SSH connection to a host (see the module's doc). Not thread-safe: one caller at a time."""

    def __init__(
        self, spec: HostSpec, control_dir: str, timeout: float = 10.0, ssh: str = "ssh", login_timeout: float = 0.0
    ) -> None:
        self.spec = spec
        self.timeout = timeout  # a relay's opening, the agent's answers
        self.login_timeout = login_timeout or timeout  # the connection, the login and the agent's start
        self.ssh = ssh
        # A short path: unix socket paths are limited to 107 bytes.
        self.control_path = os.path.join(control_dir, hashlib.sha256(spec.name.encode()).hexdigest()[:16])
        self.master: subprocess.Popen | None = None
        self.relays: list = []
        self.error_file: str | None = None
        self.agent: dict = {}

    # The connection.

    def _target(self) -> list:
        """ssh's arguments naming the host and how to log in."""
        spec = self.spec
        argv = []
        if spec.port:
            argv += ["-p", str(spec.port)]
        if spec.user:
            argv += ["-l", spec.user]
        if spec.private_key_file:
            argv += ["-i", spec.private_key_file, "-o", "IdentitiesOnly=yes"]
        return [*argv, *spec.ssh_args]

    def open(self) -> list:
        """Connect and start the agent; the host's admin sockets, [(daemon, uri)]. SessionError when it fails."""
        self.close()
        fd, self.error_file = tempfile.mkstemp(prefix="ssh-", suffix=".err", dir=os.path.dirname(self.control_path))
        command = [
            self.ssh,
            "-M",
            "-S",
            self.control_path,
            "-o",
            "ControlPersist=no",
            "-o",
            f"ConnectTimeout={max(1, round(self.login_timeout))}",
            *SSH_OPTIONS,
            "-T",
            *self._target(),
            self.spec.address,
            "--",
            self.spec.remote_command("control", discovery_source()),
        ]
        try:
            self.master = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fd, start_new_session=True
            )
        except OSError as error:
            raise SessionError(f"cannot run {self.ssh}: {error}") from error
        finally:
            os.close(fd)
        deadline = time.monotonic() + self.login_timeout
        self.agent = {}
        try:
            while not self.agent:  # lines before the agent's own (a login script's output) are skipped
                line = _read_line(self.master.stdout.fileno(), deadline, "ssh login")
                if not line:
                    break
                with contextlib.suppress(ValueError):
                    answer = json.loads(line)
                    self.agent = answer if isinstance(answer, dict) else {}
        except TimeoutError as error:
            raise self._failed(str(error)) from error
        if not self.agent.get("ready"):
            raise self._failed("the session ended before the host's Python answered")
        return self.discover()

    def _failed(self, what: str) -> SessionError:
        """The session's end: the master stopped, what ssh said kept in the error, everything closed."""
        if self.master is not None:
            _stop(self.master)
        error = SessionError(f"{what}{self._ssh_says()}")
        self.close()
        return error

    def _ssh_says(self) -> str:
        """What ssh (and the remote shell) wrote on stderr, as the tail of a message."""
        if self.master is not None and self.master.poll() is None:
            return ""
        try:
            text = Path(self.error_file).read_text(errors="replace").strip() if self.error_file else ""
        except OSError:
            text = ""
        status = f"ssh exited with {self.master.returncode}" if self.master is not None else ""
        said = "; ".join(part for part in (status, " ".join(text.split())[-500:]) if part)
        return f": {said}" if said else ""

    @property
    def alive(self) -> bool:
        return self.master is not None and self.master.poll() is None

    def discover(self) -> list:
        """The host's admin sockets now, [(daemon, uri)], as server_info's discovery finds them."""
        if not self.alive:
            raise self._failed("the SSH session has ended")
        try:
            self.master.stdin.write(b"discover\n")
            self.master.stdin.flush()
            line = _read_line(self.master.stdout.fileno(), time.monotonic() + self.timeout, "discover")
            answer = json.loads(line)
        except (OSError, TimeoutError, ValueError) as error:
            raise self._failed(f"the host's agent did not answer ({error})") from error
        return [tuple(item) for item in answer["daemons"]]

    # The daemons' admin sockets.

    def relay(self, socket_path: str) -> Relay:
        """A stream socket connected to socket_path on the host, through a new channel of the session.
        SessionError when the session is gone, RelayError when the socket cannot be reached."""
        if not self.alive:
            raise self._failed("the SSH session has ended")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # ProxyCommand=false: should the master be gone, this client fails instead of opening a second
        # connection of its own.
        command = [
            self.ssh,
            "-S",
            self.control_path,
            "-o",
            "ControlMaster=no",
            "-o",
            "ProxyCommand=false",
            *SSH_OPTIONS,
            "-T",
            self.spec.address,
            "--",
            self.spec.remote_command("relay", socket_path),
        ]
        try:
            process = subprocess.Popen(
                command, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE, start_new_session=True
            )
        except OSError as error:
            ours.close()
            raise SessionError(f"cannot run {self.ssh}: {error}") from error
        finally:
            theirs.close()
        relay = Relay(ours, process)
        try:
            ready, said = _await_relay(ours, process.stderr.fileno(), time.monotonic() + self.timeout)
        except TimeoutError as error:
            relay.close()
            raise RelayError(f"{error} (relay to {socket_path})") from error
        if ready:
            self.relays = [item for item in self.relays if item.process.poll() is None]
            self.relays.append(relay)
            return relay
        relay.close()
        if not self.alive:
            raise self._failed("the SSH session has ended")
        errors = [line for line in said if line.startswith("error ")]
        if errors:
            code, _space, message = errors[-1][len("error ") :].partition(" ")
            raise RelayError(message, int(code) if code.isdigit() else None)
        raise RelayError(f"the relay to {socket_path} failed: {' '.join(said)[-300:] or 'no answer'}")

    def close(self) -> None:
        """End every relay and the master (by their pids); the session can be opened again."""
        for relay in self.relays:
            relay.close()
        self.relays = []
        if self.master is not None:
            for stream in (self.master.stdin, self.master.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            _stop(self.master)
        with contextlib.suppress(OSError):
            if self.error_file:
                os.unlink(self.error_file)
        self.error_file = None
