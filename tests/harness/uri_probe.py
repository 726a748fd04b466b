"""Which daemon an admin URI reaches, as libvirt-admin.so resolves it and as _protocol does, on the
same inputs: the same environment, user, libvirt-admin.conf and sockets.

    results = resolve(Scenario(uris=["libvirtd:///system", None], conf='uri_default = "..."'), "9.0")

runs, for one backend ("9.0", "11.3": libvirt-admin.so of that version through ctypes; "protocol":
ProtocolConnection), a process of its own in a private mount namespace: tmpfs over /run/libvirt,
an empty /etc/libvirt (holding the scenario's libvirt-admin.conf for root), the scenario's
environment and nothing else (env -i), as root or as nobody, with fake admin sockets listening at
the scenario's paths. For each URI (None: the default) it opens a connection and reports
{"uri": what uri() gives} or {"error": [code, domain, message]}; with confs, it writes each text to
the user's libvirt-admin.conf and opens the default URI.

The child side runs with the system's /usr/bin/python3 (standard library only).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
NOBODY = 65534


@dataclass
class Scenario:
    uris: list = field(default_factory=list)  # URIs to open (None: the default one)
    env: dict = field(default_factory=dict)  # the whole environment, besides PATH
    conf: str | None = None  # libvirt-admin.conf for this user (None: no file)
    confs: list = field(default_factory=list)  # texts of libvirt-admin.conf, each then the default URI opened
    listen: list = field(default_factory=list)  # paths of fake admin sockets
    conf_as: str = "file"  # or "directory" (a folder where the file would be), "unreadable" (mode 000)
    user: int = 0  # 0 (root) or NOBODY

    def conf_path(self, etc: Path) -> str:
        if self.user == 0:
            return str(etc / "libvirt-admin.conf")
        config = self.env.get("XDG_CONFIG_HOME") or os.path.join(self.env.get("HOME", "/nonexistent"), ".config")
        return os.path.join(config, "libvirt", "libvirt-admin.conf")


def resolve(scenario: Scenario, backend: str, timeout: float = 120) -> list:
    """The backend's results for the scenario's URIs (or confs), in order."""
    from tests.harness.libvirt_versions import Libvirt

    libvirt_env = {} if backend == "protocol" else Libvirt.get(backend).env()
    with tempfile.TemporaryDirectory(prefix="lva-uri-") as work:
        etc = Path(work) / "etc"
        etc.mkdir()
        os.chmod(work, 0o755)
        spec = {
            "backend": "protocol" if backend == "protocol" else "library",
            "uris": scenario.uris,
            "confs": scenario.confs,
            "conf": scenario.conf,
            "conf_as": scenario.conf_as,
            "conf_path": scenario.conf_path(etc if scenario.user == 0 else Path("/etc/libvirt")),
            "listen": scenario.listen,
            "repo": str(REPO),
        }
        env = {"PATH": "/usr/bin:/bin", **scenario.env, **libvirt_env}
        as_user = [] if scenario.user == 0 else ["setpriv", f"--reuid={scenario.user}", f"--regid={scenario.user}"]
        as_user += ["--clear-groups"] if scenario.user else []
        child = ["env", "-i", *(f"{key}={value}" for key, value in env.items())]
        spec_file = Path(work) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        os.chmod(spec_file, 0o644)
        child += [*as_user, PYTHON, str(Path(__file__)), str(spec_file)]
        script = (
            "set -e; mkdir -p /run/libvirt; mount -t tmpfs -o mode=1777 tmpfs /run/libvirt; "
            f"mount --bind {shlex.quote(str(etc))} /etc/libvirt; "
            f"chmod 777 {shlex.quote(str(etc))}; exec {shlex.join(child)}"
        )
        completed = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"the {backend} probe failed ({completed.returncode}): {completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the child side


def _library():
    import ctypes

    admin = ctypes.CDLL("libvirt-admin.so.0")
    core = ctypes.CDLL("libvirt.so.0")

    class Error(ctypes.Structure):
        _fields_ = [("code", ctypes.c_int), ("domain", ctypes.c_int), ("message", ctypes.c_char_p)]

    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
    quiet = handler_type(lambda _data, _error: None)
    core.virSetErrorFunc.argtypes = [ctypes.c_void_p, handler_type]
    core.virSetErrorFunc(None, quiet)
    core.virGetLastError.restype = ctypes.POINTER(Error)
    admin.virAdmInitialize()
    admin.virAdmConnectOpen.restype = ctypes.c_void_p
    admin.virAdmConnectOpen.argtypes = [ctypes.c_char_p, ctypes.c_uint]
    admin.virAdmConnectGetURI.restype = ctypes.c_void_p
    admin.virAdmConnectGetURI.argtypes = [ctypes.c_void_p]
    admin.virAdmConnectClose.argtypes = [ctypes.c_void_p]

    def open_uri(uri):
        conn = admin.virAdmConnectOpen(None if uri is None else uri.encode("utf-8", "surrogateescape"), 0)
        if not conn:
            error = core.virGetLastError().contents
            return {"error": [error.code, error.domain, error.message.decode("utf-8", "replace")]}
        text = admin.virAdmConnectGetURI(conn)
        result = {"uri": ctypes.string_at(text).decode("utf-8", "replace")}
        admin.virAdmConnectClose(conn)
        return result

    open_uri.keep = quiet  # the callback must outlive the calls
    return open_uri


def _protocol(repo: str):
    sys.path.insert(0, os.path.join(repo, ".build", "collections"))
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._protocol import ProtocolConnection

    def open_uri(uri):
        try:
            conn = ProtocolConnection(uri, timeout=10)
        except LibvirtAdminError as error:
            return {"error": [error.code, error.domain, error.message]}
        result = {"uri": conn.uri()}
        conn.close()
        return result

    return open_uri


def _child(spec: dict) -> None:
    sys.path.insert(0, spec["repo"])
    from tests.harness.admin_peer import listen

    listeners = []
    for path in spec["listen"]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        listeners.append(listen(path))
    open_uri = _library() if spec["backend"] == "library" else _protocol(spec["repo"])
    conf_path = spec["conf_path"]
    if spec["conf"] is not None:
        os.makedirs(os.path.dirname(conf_path), exist_ok=True)
        if spec["conf_as"] == "directory":
            os.mkdir(conf_path)
        else:
            with open(conf_path, "w", encoding="utf-8", errors="surrogateescape") as stream:
                stream.write(spec["conf"])
            if spec["conf_as"] == "unreadable":
                os.chmod(conf_path, 0)
    results = [open_uri(uri) for uri in spec["uris"]]
    for text in spec["confs"]:
        os.makedirs(os.path.dirname(conf_path), exist_ok=True)
        with open(conf_path, "wb") as stream:
            stream.write(text.encode("utf-8", "surrogateescape"))
        results.append(open_uri(None))
    for listener in listeners:
        listener.close()
    print(json.dumps(results))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as stream:
        _child(json.load(stream))
