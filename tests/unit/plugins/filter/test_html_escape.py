"""Filter html_escape: every string at any depth escaped as Jinja's escape filter escapes it, nothing else."""

from __future__ import annotations

import datetime

import markupsafe
import pytest

from ansible_collections.virtops.libvirt_admin.plugins.filter.html_escape import FilterModule, html_escape


@pytest.mark.parametrize("text", ["", "plain", "&<>\"'", "<script>alert(1)</script>", "a &amp; b", "</code>", "é ∞"])
def test_a_string_is_escaped_as_jinjas_escape_filter_escapes_it(text):
    assert html_escape(text) == str(markupsafe.escape(text))


def test_every_string_at_any_depth_keys_and_other_values_as_they_are():
    data = {
        "title": "<b>",
        "rows": [{"host": "a&b", "flags": ["x"], "ratio": 0.9, "count": 3, "ok": True, "error": None}],
        "pair": ("'", '"'),
        "<key>": "v",
    }
    assert html_escape(data) == {
        "title": "&lt;b&gt;",
        "rows": [{"host": "a&amp;b", "flags": ["x"], "ratio": 0.9, "count": 3, "ok": True, "error": None}],
        "pair": ["&#39;", "&#34;"],
        "<key>": "v",
    }


def test_any_other_value_becomes_its_escaped_text():
    assert html_escape(datetime.date(2026, 1, 31)) == "2026-01-31"
    assert html_escape({"x": b"<"}) == {"x": "b&#39;&lt;&#39;"}


def test_the_input_is_not_changed():
    data = {"rows": [{"host": "<"}]}
    html_escape(data)
    assert data == {"rows": [{"host": "<"}]}


def test_the_filter_is_registered_by_its_name():
    assert FilterModule().filters() == {"html_escape": html_escape}
