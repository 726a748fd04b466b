"""The protocol backend finds the daemon libvirt-admin.so finds: the same inputs (URI, environment,
user, libvirt-admin.conf, sockets) given to libvirt's own library of every version at hand (9.0 and
11.3, through ctypes) and to ProtocolConnection, each in a sandbox of its own
(tests/harness/uri_probe.py), must open the same socket and report the same uri(), or fail with the
same code, domain and message. Most failures name the socket tried ("Failed to connect socket to
'...'"), so they check the resolution itself."""

from __future__ import annotations

import json
import random

import pytest

from tests.harness.libvirt_versions import names
from tests.harness.uri_probe import NOBODY, Scenario, resolve

# Every libvirt version at hand is covered here already: `make integration-versions` need not repeat it.
pytestmark = pytest.mark.once

SYSTEM_SOCKET = "/run/libvirt/libvirt-admin-sock"


def backends() -> list:
    return [*names(), "protocol"]


def by_backend(results: dict, index: int) -> dict:
    """What each backend found for the input at index."""
    return {backend: found[index] for backend, found in results.items()}


def agree(scenario: Scenario) -> list:
    """The results every backend gives (asserting that they are the same)."""
    results = {backend: resolve(scenario, backend) for backend in backends()}
    inputs = [*scenario.uris, *scenario.confs]
    for backend, found in results.items():
        assert len(found) == len(inputs), backend
    differing = [
        f"{inputs[index]!r}: {by_backend(results, index)}"
        for index in range(len(inputs))
        if len({json.dumps(found[index]) for found in results.values()}) > 1
    ]
    assert not differing, "\n".join(differing)
    return results["protocol"]


SCENARIOS = {
    "root, daemons named in URIs": Scenario(
        uris=[
            "libvirtd:///system",
            None,
            "libvirtd:/system",
            "virtqemud:///system",
            "virtproxyd:///system",  # libvirt looks for virtproxyd-admin-sock, not libvirtd's
            "libvirtd:///session",
            "libvirtd://h/system?",
            "libvirtd:///sys%74em#fr%20ag",
            "libvirtd:///system?socket=/run/libvirt/s&socket=/run/libvirt/t",
            "libvirtd:///system?socket=",
            "libvirtd:///system?socket=@abstract",
            "libvirtd:///system?socket=/run/libvirt/" + "x" * 100,
            "libvirtd:///system?socket=/etc/passwd",
            "foo:///system",
            "LIBVIRTD:///system",
            "libvirtd:///foo",
            "libvirtd:///system?sock=1",
            "a b",
            "//?socket=/run/libvirt/t",
        ],
        listen=[SYSTEM_SOCKET, "/run/libvirt/virtqemud-admin-sock", "/run/libvirt/t"],
    ),
    "root, LIBVIRT_ADMIN_DEFAULT_URI": Scenario(
        uris=[None, "libvirtd:///system"],
        env={"LIBVIRT_ADMIN_DEFAULT_URI": "virtlogd:///system"},
        conf='uri_default = "virtqemud:///system"\n',
    ),
    "root, an empty LIBVIRT_ADMIN_DEFAULT_URI": Scenario(
        uris=[None], env={"LIBVIRT_ADMIN_DEFAULT_URI": ""}, conf='uri_default = "virtqemud:///system"\n'
    ),
    "root, uri_default and aliases": Scenario(
        uris=[None, "qemu", "logs", "nosuch"],
        conf='uri_aliases = [\n  "qemu=virtqemud:///system",\n  "logs=virtlogd:///system?socket=/run/libvirt/l",\n]\n'
        'uri_default = "qemu"\n',
        listen=["/run/libvirt/virtqemud-admin-sock"],
    ),
    "root, the default URI is an alias from the environment": Scenario(
        uris=[None],
        env={"LIBVIRT_ADMIN_DEFAULT_URI": "foo"},
        conf='uri_aliases = ["foo=virtqemud:///system"]\nuri_default="libvirtd:///session"\n',
    ),
    "root, a folder where the file would be": Scenario(uris=[None, "libvirtd:///system"], conf="", conf_as="directory"),
    "root, a file over libvirt's size limit": Scenario(uris=[None], conf="x" * (10 * 1024 * 1024 + 1)),
    "root, session sockets in the runtime directory": Scenario(
        uris=[None, "virtqemud:///session", "libvirtd:///session"],
        env={"XDG_RUNTIME_DIR": "/run/libvirt/x/", "HOME": "/run/libvirt/home"},
        listen=["/run/libvirt/x/libvirt/libvirt-admin-sock"],
    ),
    "nobody, the session daemon by default": Scenario(
        uris=[None, "libvirtd:///system"],
        env={"XDG_RUNTIME_DIR": "/run/libvirt/r"},
        listen=["/run/libvirt/r/libvirt/libvirt-admin-sock"],
        user=NOBODY,
    ),
    "nobody, no HOME: the passwd entry's": Scenario(uris=[None, "virtqemud:///session"], user=NOBODY),
    "nobody, odd HOMEs": Scenario(uris=[None], env={"HOME": "relative/dir//"}, user=NOBODY),
    "nobody, HOME //": Scenario(uris=[None], env={"HOME": "//"}, user=NOBODY),
    "nobody, XDG_CACHE_HOME": Scenario(uris=[None], env={"XDG_CACHE_HOME": "/run/libvirt/cache/"}, user=NOBODY),
    "nobody, their own libvirt-admin.conf": Scenario(
        uris=[None, "foo"],
        conf='uri_aliases = ["foo=virtqemud:///session"]\nuri_default = "virtlogd:///session"\n',
        env={"XDG_CONFIG_HOME": "/run/libvirt/c", "XDG_RUNTIME_DIR": "/run/libvirt/r"},
        user=NOBODY,
    ),
    "nobody, a libvirt-admin.conf under HOME": Scenario(
        uris=[None], conf='uri_default = "virtqemud:///session"\n', env={"HOME": "/run/libvirt/home"}, user=NOBODY
    ),
    "nobody, an unreadable libvirt-admin.conf": Scenario(
        uris=[None], conf='uri_default = "x"\n', conf_as="unreadable", env={"HOME": "/run/libvirt/h"}, user=NOBODY
    ),
    "root, libvirt-admin.conf syntax": Scenario(
        confs=[
            "",
            "\n",
            " ",
            "#",
            "a=1\n\n",
            'uri_default = "x"',
            "uri_default = 5x\n",
            'uri_default = "a"b',
            'uri_default = "a" #x\n',
            'uri_default="""a\nb"""\n',
            'uri_default = "lib\x00virtd:///system"\n',
            "uri_default = [ 'a'\n",
            "uri_default = ['a' 'b']\n",
            "uri_default = +\n",
            "uri_default",
            "x = [ 1, 'a', [],\n ]\nuri_default = 'virtlogd:///system'\n",
            "uri_default = 'virtlogd:///system'\r\n",
            'uri_aliases = ["foo"]\n',
            'uri_aliases = ["f.o=x"]\n',
            'uri_aliases = "f=x"\n',
            "uri_aliases = [1]\n",
            'uri_default = "a" ; uri_default = "b"\n',
        ],
        listen=[SYSTEM_SOCKET],
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_backends_resolve_alike(name):
    agree(SCENARIOS[name])


def test_what_the_backends_agree_on_is_what_libvirt_documents():
    """A few results spelled out, so that agreeing on something wrong cannot pass."""
    results = agree(SCENARIOS["root, daemons named in URIs"])
    assert results[0] == {"uri": "libvirtd:///system"}
    assert results[1] == {"uri": "libvirtd:///system"}
    assert results[4] == {
        "error": [38, 7, "Failed to connect socket to '/run/libvirt/virtproxyd-admin-sock': No such file or directory"]
    }
    assert results[8] == {"uri": "libvirtd:///system?socket=/run/libvirt/s&socket=/run/libvirt/t"}
    assert agree(SCENARIOS["nobody, the session daemon by default"])[0] == {"uri": "libvirtd:///session"}


def random_uris(rng: random.Random, count: int) -> list:
    schemes = ["libvirtd", "virtqemud", "virtproxyd", "virt", "foo", "LIBVIRTD", "", "1a", "a+b.c-d", "v%41"]
    authorities = ["", "h", "user@h", "u:p@h", "@", "h:5", "h:", "[::1]", "[::1]:9", "[v1.x]", "%41", "h%2", "a@b@c"]
    authorities += ["1.2.3.4", "h:99999999999"]
    paths = ["/system", "/session", "/sys%74em", "/a:b", "//system", "", "/system/", "/", "/sys tem", "/%00x", "/é"]
    paths += ["system", "/system;x", "/sy%2Fstem"]
    queries = ["socket=/run/libvirt/s", "socket=", "socket", "sock=1", "&&socket=/run/libvirt/s", "=x", "x=%zz"]
    queries += ["socket=/run/libvirt/s;x=1", "socket=/run/libvirt/s&", "socket=%2Frun%2Flibvirt%2Fs", "a=1;socket=/x"]
    queries += ["socket=/run/libvirt/s%00z", "socket=@abs", "socket=/run/libvirt/s&socket=/run/libvirt/t"]
    fragments = ["", "f", "f%20g", "[x]", "a b", "#"]
    junk = [" ", '"', "<", "%", "%zz", "é", "\t", "{", "|", "\\", "^", "`", "'", "(", "*", "~"]
    uris = []
    for _index in range(count):
        uri = rng.choice(schemes) + (":" if rng.random() < 0.9 else "")
        if rng.random() < 0.6:
            uri += "//" + rng.choice(authorities)
        uri += rng.choice(paths)
        if rng.random() < 0.5:
            uri += "?" + rng.choice(queries)
        if rng.random() < 0.2:
            uri += "#" + rng.choice(fragments)
        if rng.random() < 0.15:
            cut = rng.randrange(len(uri) + 1)
            uri = uri[:cut] + rng.choice(junk) + uri[cut:]
        if rng.random() < 0.05:
            uri = uri[: rng.randrange(len(uri) + 1)]
        uris.append(uri)
    return uris


def random_confs(rng: random.Random, count: int) -> list:
    names_ = ["uri_default", "uri_aliases", "x", "1a", "_a", "a_b1", "uri_default "]
    strings = ['"libvirtd:///system"', "'virtqemud:///system'", '"""libvirtd:///session"""', '"foo"', '"a\nb"']
    strings += ['"unterminated', "'x", '""', '"""x\ny"""', '"""x"', '"\x00"', '"é"']
    lists = ['["foo=virtqemud:///system"]', '["foo=x", "bar=libvirtd:///system"]', "[]", '["foo"]', '["f.o=x"]']
    lists += ['[ "a=b" , ]', "[1]", '["a=b" "c=d"]', '["a=b"', '[\n"a=b",\n"c=d"\n]', '"a=b"', '[["a=b"]]', "[,]"]
    numbers = ["5", "-3", "+", "-", "12x", "+7"]
    separators = ["\n", ";", "\r\n", " \n", "\t\n", " # c\n", "", "\n\n", " ;", "\r"]
    confs = []
    for _index in range(count):
        parts = []
        for _item in range(rng.randint(0, 4)):
            if rng.random() < 0.15:
                parts.append("#" + rng.choice(["", " comment", "x=1"]) + "\n")
                continue
            name = rng.choice(names_)
            value = (
                rng.choice(lists + strings[:2]) if name == "uri_aliases" else rng.choice(strings + numbers + lists[:3])
            )
            parts.append(rng.choice(["", " ", "\t"]) + name + rng.choice(["=", " = ", " =", "  "]) + value)
            parts.append(rng.choice(separators))
        text = "".join(parts)
        if text and rng.random() < 0.1:
            text = text[: rng.randrange(len(text))]
        confs.append(text)
    return confs


@pytest.mark.parametrize("seed", [1, 2])
def test_random_uris_resolve_alike(seed):
    scenario = Scenario(uris=random_uris(random.Random(seed), 400), listen=[SYSTEM_SOCKET, "/run/libvirt/s"])
    agree(scenario)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_libvirt_admin_confs_are_read_alike(seed):
    agree(Scenario(confs=random_confs(random.Random(seed), 300), listen=[SYSTEM_SOCKET]))
