"""Test certificates for TLS daemons and clients, made with openssl.

    pki = Pki.create(folder)            # a CA, and a server and a client certificate it signed
    pki.install_server(daemon.root / "pki")   # where a root daemon reads them (its /etc/pki)
    pki.client_dir                      # a pkipath for libvirt clients: cacert, clientcert, clientkey
    fingerprint(pki.server_cert)        # SHA-256 fingerprint, as served_fingerprint() reads it

The server certificate is for CN=127.0.0.1 with IP SAN 127.0.0.1, so a
client reaching the daemon at 127.0.0.1 accepts it when it trusts the CA.
Give the daemon its own /etc/pki with Daemon(extra_mounts={"pki": "/etc/pki"}).
Keys are EC P-256 (quick to make); every certificate has the extensions
libvirt's certificate checks want (CA:TRUE and keyCertSign on the CA;
digitalSignature, keyEncipherment and serverAuth / clientAuth on the others).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

OPENSSL = "/usr/bin/openssl"
HOST = "127.0.0.1"
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
DAYS = "2"

# Where a root libvirt daemon reads its TLS files, relative to /etc/pki, by Pki attribute (REFERENCE.md:
# virAdmServerUpdateTlsFiles re-reads these, not the config file's key_file / cert_file / ca_file).
SERVER_FILES = {
    "cacert": "CA/cacert.pem",
    "server_cert": "libvirt/servercert.pem",
    "server_key": "libvirt/private/serverkey.pem",
}
# What a client's pkipath holds (Pki attribute -> file name).
CLIENT_FILES = {"cacert": "cacert.pem", "client_cert": "clientcert.pem", "client_key": "clientkey.pem"}


def openssl(*args: str, stdin: str | None = None) -> str:
    completed = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


def fingerprint(cert: Path | str) -> str:
    """SHA-256 fingerprint of a PEM certificate (a file, or the PEM text), as AA:BB:..."""
    args = ["x509", "-noout", "-fingerprint", "-sha256"]
    output = openssl(*args, "-in", str(cert)) if isinstance(cert, Path) else openssl(*args, stdin=cert)
    return output.strip().split("=", 1)[1]


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def served_certificate(port: int, host: str = HOST, timeout: float = 15) -> str:
    """The certificate a TLS server on host:port sends, as PEM (openssl s_client, stdin closed)."""
    completed = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"{host}:{port}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    found = _PEM.search(completed.stdout)
    if not found:
        raise AssertionError(f"no certificate from {host}:{port}: {completed.stdout}\n{completed.stderr}")
    return found.group(0) + "\n"


def served_fingerprint(port: int, host: str = HOST) -> str:
    return fingerprint(served_certificate(port, host))


class Pki:
    """A CA and the server and client certificates it signed, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cacert = folder / "cacert.pem"
        self.cakey = folder / "cakey.pem"
        self.server_cert = folder / "servercert.pem"
        self.server_key = folder / "serverkey.pem"
        self.client_cert = folder / "clientcert.pem"
        self.client_key = folder / "clientkey.pem"
        self.client_dir = folder / "client"

    @classmethod
    def create(cls, folder: Path, name: str = "Test", client_cn: str = "client1") -> Pki:
        folder.mkdir(parents=True, exist_ok=True)
        pki = cls(folder)
        openssl(
            "req", "-x509", *KEY, "-keyout", str(pki.cakey), "-out", str(pki.cacert), "-days", DAYS,
            "-subj", f"/CN={name} CA/O={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        pki._issue(pki.server_cert, pki.server_key, f"/CN={HOST}/O={name}", "serverAuth", f"IP:{HOST}")
        pki._issue(pki.client_cert, pki.client_key, f"/CN={client_cn}/O={name}", "clientAuth")
        pki.client_dir.mkdir(exist_ok=True)
        for attribute, name in CLIENT_FILES.items():
            shutil.copy(getattr(pki, attribute), pki.client_dir / name)
        return pki

    def _issue(self, cert: Path, key: Path, subject: str, usage: str, san: str | None = None) -> None:
        extensions = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=digitalSignature,keyEncipherment",
            f"extendedKeyUsage={usage}",
            *([f"subjectAltName={san}"] if san else []),
        ]
        openssl(
            "req", "-x509", *KEY, "-keyout", str(key), "-out", str(cert), "-days", DAYS, "-subj", subject,
            "-CA", str(self.cacert), "-CAkey", str(self.cakey),
            *[arg for extension in extensions for arg in ("-addext", extension)],
        )  # fmt: skip

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the server certificate."""
        return fingerprint(self.server_cert)

    def install_server(self, pki_root: Path, cacert: Path | None = None) -> None:
        """Write the CA certificate and the server's certificate and key where a root
        daemon reads them, under pki_root (the folder mounted on the daemon's /etc/pki).
        Each file is replaced whole (written aside, then renamed)."""
        sources = {"cacert": cacert or self.cacert, "server_cert": self.server_cert, "server_key": self.server_key}
        for name, relative in SERVER_FILES.items():
            target = pki_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            aside = target.with_name(f".{target.name}.new")
            shutil.copy(sources[name], aside)
            aside.chmod(0o600 if name == "server_key" else 0o644)
            aside.replace(target)
