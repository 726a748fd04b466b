"""The event source plugin file itself, loaded as ansible-rulebook loads it (runpy.run_path from the
collection's extensions/eda/plugins/event_source): no relative imports, the collection's code reached
through the collections folder the file is in; its DOCUMENTATION, EXAMPLES and argument schema agree;
main() watches this machine's daemons (the fake backend here) and puts changes on the queue."""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_hosts
from tests.harness.ansible import REPO, collections_path
from tests.unit.fake_admin import FakeDaemon
from tests.unit.plugins.plugin_utils.watch_helpers import SCHEMA, FakeQueue

RELATIVE = Path("extensions", "eda", "plugins", "event_source", "admin_watch.py")
INSTALLED = Path(collections_path(), "ansible_collections", "virtops", "libvirt_admin", RELATIVE)
URI = "libvirtd:///system?socket=/tmp/x/libvirt-admin-sock"
TYPES = {"float": "number", "int": "integer", "str": "string", "list": "array", "bool": "boolean"}


@pytest.fixture(scope="module")
def plugin() -> dict:
    return runpy.run_path(str(INSTALLED))


def test_loads_as_ansible_rulebook_loads_it(plugin):
    assert asyncio.iscoroutinefunction(plugin["main"])
    assert plugin["collections_root"](str(INSTALLED)) == collections_path()


def test_a_plugin_file_outside_a_collection_finds_one_on_the_collections_path(plugin, tmp_path, monkeypatch):
    stray = tmp_path / "admin_watch.py"
    stray.write_text("")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", f"/nonexistent:{collections_path()}")
    assert plugin["collections_root"](str(stray)) == collections_path()
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="not inside an installed collection"):
        plugin["collections_root"](str(stray))


def test_loads_in_a_fresh_python_with_nothing_on_its_path():
    """As under ansible-rulebook: only the plugin file's own location says where the collection is."""
    code = (
        f"import runpy, asyncio; m = runpy.run_path({str(INSTALLED)!r}); print(asyncio.iscoroutinefunction(m['main']))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHON"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", check=False)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_documentation_and_schema_agree(plugin):
    documentation = yaml.safe_load(plugin["DOCUMENTATION"])
    schema = json.loads(SCHEMA.read_text())
    options, properties = documentation["options"], schema["properties"]
    assert sorted(options) == sorted(properties)
    for name, option in options.items():
        rule = properties[name]
        assert TYPES[option["type"]] == rule["type"], name
        default = option.get("default", [] if option["type"] == "list" else ("" if option["type"] == "str" else None))
        assert default == rule.get("default"), name
        if "choices" in option:
            assert option["choices"] == rule["enum"], name
    assert schema["additionalProperties"] is False


def test_examples_are_rulebooks_using_the_source(plugin):
    examples = yaml.safe_load(plugin["EXAMPLES"])
    for ruleset in examples:
        assert "virtops.libvirt_admin.admin_watch" in ruleset["sources"][0]


def test_main_watches_this_machines_daemons(plugin, monkeypatch):
    fake = FakeDaemon()
    monkeypatch.setattr(_watch_hosts, "open_local", lambda uri, backend, timeout: fake.connect(uri))
    queue = FakeQueue()

    async def scenario():
        task = asyncio.create_task(plugin["main"](queue, {"uris": [URI], "interval": 0.02}))
        await asyncio.sleep(0.1)
        fake.servers["libvirtd"]["threadpool"].update(nWorkers=20, freeWorkers=0, jobQueueDepth=4)
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert queue.kinds() == ["exhausted"]
    event = queue.events[0]["libvirt_admin"]
    assert (event["host"], event["daemon"], event["uri"], event["server"]) == ("localhost", "libvirtd", URI, "libvirtd")
    assert event["source"] == "virtops.libvirt_admin.admin_watch"


def test_main_fails_at_once_on_a_wrong_argument(plugin):
    with pytest.raises(ValueError, match="unknown argument"):
        asyncio.run(plugin["main"](FakeQueue(), {"interval": 1, "hostz": "compute"}))


def test_the_source_ships_in_the_collection_layout():
    assert (REPO / RELATIVE).is_file()
    assert (REPO / "extensions" / "eda" / "plugins" / "event_source" / "schemas" / "admin_watch.json").is_file()
