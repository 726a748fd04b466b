# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter html_escape: every string in a structure HTML-escaped (documented in html_escape.yml).

Ansible's template engine has no autoescape (since ansible-core 2.19 it renders with Jinja's native
code generator, which ignores an {% autoescape %} block), so a page escapes its data once, here,
before it is rendered: the template then prints only what this returns, and its own markup.
"""

from __future__ import annotations

from collections.abc import Mapping

# Jinja's escape filter (MarkupSafe) writes the same entities.
ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def html_escape(data):
    """data with every string in it escaped, at any depth; mapping keys, numbers, booleans and null
    as they are; any other value as its escaped text."""
    if isinstance(data, str):
        return data.translate(ENTITIES)
    if data is None or isinstance(data, (bool, int, float)):
        return data
    if isinstance(data, Mapping):
        return {key: html_escape(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [html_escape(value) for value in data]
    return str(data).translate(ENTITIES)


class FilterModule:
    def filters(self):
        return {"html_escape": html_escape}
