"""The client filter is documented twice (ansible-test wants each doc fragment
as one string literal): both copies must describe the same criteria, and the
same ones the argument spec takes."""

from __future__ import annotations

import yaml

from ansible_collections.virtops.libvirt_admin.plugins.doc_fragments.client_filter import ModuleDocFragment
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._clients import FILTER_OPTIONS


def suboptions(text: str, option: str) -> dict:
    return yaml.safe_load(text)["options"][option]["suboptions"]


def test_match_and_disconnect_document_the_same_criteria():
    match = suboptions(ModuleDocFragment.DOCUMENTATION, "match")
    disconnect = suboptions(ModuleDocFragment.DISCONNECT, "disconnect")
    assert set(disconnect) - set(match) == {"all"}
    assert {key: disconnect[key] for key in match} == match


def test_documented_criteria_are_the_argument_spec():
    match = suboptions(ModuleDocFragment.DOCUMENTATION, "match")
    assert list(match) == list(FILTER_OPTIONS)
    for key, spec in FILTER_OPTIONS.items():
        assert match[key]["type"] == spec["type"], key
        assert match[key].get("elements") == spec.get("elements"), key
        assert match[key].get("choices") == spec.get("choices"), key
