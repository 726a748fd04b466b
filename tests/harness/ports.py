"""TCP ports for the daemons' listeners (TLS, TCP) and for "nobody listens here".

A port the kernel hands out for bind(0) is one of its ephemeral ports: once the
probe closes, the kernel may hand it out again, to another xdist worker's probe
or as the source port of any outgoing connection (ssh to a fleet host, a TLS
client), and a daemon that then binds it exits ("Address already in use")
after its admin socket is already up. So the ports here come from below the
ephemeral range, and each is held for the rest of the process by a lock file
(flock) that every test process on the machine honours; the kernel releases
the lock when the process exits.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
from pathlib import Path

FIRST, LAST = 20000, 32000  # below the kernel's ephemeral ports (net.ipv4.ip_local_port_range)
LOCK_DIR = Path(f"/tmp/virtops-ports-{os.getuid()}")
_HELD: dict = {}  # port -> fd of its lock file, for the life of this process


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(address: str, port: int) -> bool:
    """Whether nobody listens on address:port (a listener binds it with SO_REUSEADDR, as libvirt and sshd do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT does not count
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def try_lock(path: Path):
    """The fd of lock file path, locked (flock) for as long as it stays open; None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


def free_port(address: str = "127.0.0.1") -> int:
    """A port nobody listens on at address, reserved for this process's tests."""
    last = min(LAST, _ephemeral_low() - 1)
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    start = random.randrange(FIRST, last)
    for offset in range(last - FIRST):
        port = FIRST + (start - FIRST + offset) % (last - FIRST)
        if port in _HELD:
            continue
        fd = try_lock(LOCK_DIR / f"{port}.lock")
        if fd is None:  # another test process's
            continue
        if not bindable(address, port):
            os.close(fd)
            continue
        _HELD[port] = fd
        return port
    raise RuntimeError(f"no free TCP port on {address} between {FIRST} and {last}")


def listening(addresses, pid: int | None = None) -> list:
    """(address, port) of the TCP sockets listening on any of addresses ("127.0.0.N"); with pid, only
    those of that process (another listener on the same port does not count)."""
    wanted = set(addresses)
    owned = _socket_inodes(pid) if pid is not None else None
    found = []
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or (owned is not None and inode not in owned):  # 0A: LISTEN
                continue
            hex_address, hex_port = local.split(":")
            address = socket.inet_ntoa(bytes.fromhex(hex_address)[::-1])
            if address in wanted:
                found.append((address, int(hex_port, 16)))
    return found


def _socket_inodes(pid: int) -> set:
    """The inodes of the sockets process pid holds open (its /proc/<pid>/fd links read socket:[inode])."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir() if fd_dir.exists() else ():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes
