"""What the admin_watch unit tests share: settings as the source validates them, a fake queue."""

from __future__ import annotations

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_loop
from tests.harness.ansible import REPO

SCHEMA = REPO / "extensions" / "eda" / "plugins" / "event_source" / "schemas" / "admin_watch.json"


def settings(**args) -> _watch_loop.Settings:
    return _watch_loop.Settings(_watch_loop.validate(args, _watch_loop.load_schema(str(SCHEMA))))


class FakeQueue:
    """The queue ansible-rulebook hands a source: records what is put on it."""

    def __init__(self) -> None:
        self.events: list = []

    async def put(self, event: dict) -> None:
        self.events.append(event)

    def kinds(self) -> list:
        return [event["libvirt_admin"]["type"] for event in self.events]
