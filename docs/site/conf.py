"""Sphinx configuration of the docs site (built by docs/site/build.py, `make docs`).

Based on what `antsibull-docs sphinx-init` writes, with one change: the build
machines reach no documentation host, so instead of intersphinx inventories
the few references into Ansible's own documentation that the generated pages
make are resolved here, to docs.ansible.com. Any other unresolved reference
fails the build (nitpicky, warnings are errors).
"""

from __future__ import annotations

import re

from docutils import nodes

project = "virtops.libvirt_admin"
copyright = "virtops.libvirt_admin contributors"
title = "virtops.libvirt_admin"
html_short_title = "virtops.libvirt_admin"

extensions = ["sphinx_antsibull_ext"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
display_version = False

default_role = "any"
nitpicky = True

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
# Labels of Ansible's own documentation that generated pages refer to: label -> (page, title).
ANSIBLE_LABELS = {
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible configuration settings"),
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "module_defaults": ("playbook_guide/playbooks_module_defaults.html", "Module defaults"),
    "playbooks_special_topics": ("playbook_guide/playbooks_advanced_syntax.html", "Advanced playbook syntax"),
    "collections": ("collections_guide/index.html", "Using Ansible collections"),
}
# ansible_collections.<namespace>.<name>.<plugin>_<type> of collections other than this one.
PLUGIN_LABEL = re.compile(r"^ansible_collections\.(\w+)\.(\w+)\.(\w+)_(module|role|[a-z]+)$")


def _resolve_ansible_label(app, env, node, contnode):
    """Resolve a :ref: into Ansible's documentation, or leave it to fail the build."""
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    target = node["reftarget"]
    if target in ANSIBLE_LABELS:
        page, label_title = ANSIBLE_LABELS[target]
    else:
        match = PLUGIN_LABEL.match(target)
        if not match or match.group(1, 2) == ("virtops", "libvirt_admin"):
            return None
        namespace, name, plugin, plugin_type = match.groups()
        page, label_title = f"collections/{namespace}/{name}/{plugin}_{plugin_type}.html", None
    reference = nodes.reference("", "", internal=False, refuri=ANSIBLE_DOCS + page)
    if node.get("refexplicit") or label_title is None:
        reference += contnode
    else:
        reference += nodes.inline(label_title, label_title)
    return reference


def setup(app):
    app.connect("missing-reference", _resolve_ansible_label)
