# A test-only stdout callback: prints every task result as one JSON document,
# {"tasks": [{"task": name, "host": host, "result": {...}}, ...]}.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_results
type: stdout
short_description: Task results as one JSON document (test harness only)
description: Prints every task result, for the test harness to parse.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "task_results"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = []

    def _record(self, result, **extra):
        self.results.append(
            {"task": result.task_name, "host": result._host.get_name(), "result": {**result._result, **extra}}
        )

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        self._display.display(json.dumps({"tasks": self.results}, default=str))
