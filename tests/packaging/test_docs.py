"""The docs: ansible-doc for every module and role, antsibull-docs' lint, and the HTML site.

The site is built as `make docs` builds it (docs/site/build.py: antsibull-docs, then Sphinx
with warnings as errors), into a temporary folder; every module and role must have its page
there, the guide and the compatibility table theirs, and every playbook its section.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.harness.ansible import FQCN, REPO, collections_path
from tests.packaging.helpers import BIN, module_documentation, modules, playbooks, roles, run

SITE_COLLECTION = "collections/virtops/libvirt_admin"
# Ansible sees this checkout as the collection (a link in a temporary collections path).
COLLECTION_ENV = {"ANSIBLE_COLLECTIONS_PATH": collections_path()}


def text_of(page) -> str:
    """A page's text, tags dropped and whitespace folded."""
    return text_of_fragment(re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(), flags=re.S))


@pytest.fixture(scope="module")
def site(release_bin, tmp_path_factory):
    dest = tmp_path_factory.mktemp("docs")
    env = {"PATH": f"{release_bin}:{BIN}:/usr/bin:/bin", "ANSIBLE_COLLECTIONS_PATH": collections_path()}
    built = run([release_bin / "python", REPO / "docs" / "site" / "build.py", dest], env=env, cwd=REPO)
    assert built.returncode == 0, f"the docs site does not build:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"
    return dest / "html"


def test_ansible_doc_documents_every_module():
    names = [f"{FQCN}.{name}" for name in modules()]
    done = run([BIN / "ansible-doc", "--json", "-t", "module", *names], env=COLLECTION_ENV)
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    assert sorted(docs) == sorted(names), done.stderr
    for name, entry in docs.items():
        assert entry["doc"]["short_description"], f"{name} has no short_description"
        assert entry["examples"], f"{name} has no EXAMPLES"
        assert entry["return"] is not None, f"{name} has no RETURN"


@pytest.mark.skipif(not roles(), reason="the collection has no roles")
def test_ansible_doc_documents_every_role():
    names = [f"{FQCN}.{name}" for name in roles()]
    done = run([BIN / "ansible-doc", "--json", "-t", "role", *names], env=COLLECTION_ENV)
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    undocumented = [name for name in names if not docs.get(name, {}).get("entry_points")]
    assert not undocumented, f"roles without meta/argument_specs.yml: {undocumented}"


def test_antsibull_docs_lint_passes(release_bin):
    done = run(
        [release_bin / "antsibull-docs", "lint-collection-docs", "--plugin-docs", "."],
        env={"PATH": f"{release_bin}:/usr/bin:/bin", "ANSIBLE_COLLECTIONS_PATH": collections_path()},
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_has_its_page(site):
    for name in modules():
        page = site / SITE_COLLECTION / f"{name}_module.html"
        assert page.is_file(), f"no page for module {name}"
        text = text_of(page)
        assert f"{FQCN}.{name} module" in text, f"{page.name} is not the page of {name}"
        description = " ".join(module_documentation(name)["short_description"].split())
        assert description in text, f"{page.name} lacks the short description {description!r}"
    index = text_of(site / SITE_COLLECTION / "index.html")
    missing = [name for name in modules() if name not in index]
    assert not missing, f"modules missing from the collection index: {missing}"


def test_every_role_has_its_page(site):
    missing = [name for name in roles() if not (site / SITE_COLLECTION / f"{name}_role.html").is_file()]
    assert not missing, f"roles without a page (a role needs meta/argument_specs.yml): {missing}"


def test_every_playbook_has_its_section(site):
    text = text_of(site / "playbooks.html")
    missing = [name for name in playbooks() if f"{FQCN}.{name}" not in text]
    assert not missing, f"playbooks missing from playbooks.html: {missing}"


def test_guide_walks_the_three_stories(site):
    text = text_of(site / SITE_COLLECTION / "docsite" / "guide.html")
    for heading in ("Thread pool:", "Clients:", "Logging:"):
        assert heading in text, f"the guide has no section {heading!r}"
    for module in ("threadpool", "clients", "client_info", "logging", "server_info"):
        assert f"{FQCN}.libvirt_admin_{module}" in text, f"the guide never names libvirt_admin_{module}"


def test_compatibility_table_names_the_claimed_versions(site):
    page = site / SITE_COLLECTION / "docsite" / "compatibility.html"
    tables = re.findall(r"<table\b.*?</table>", page.read_text(), flags=re.S)
    assert len(tables) >= 2, "the compatibility page has no tables"
    cores = text_of_fragment(tables[0])
    for core in ("2.17", "2.21"):
        assert core in cores, f"ansible-core {core} is not in the compatibility table"
    assert "9.0.0" in text_of_fragment(tables[1])


def text_of_fragment(fragment: str) -> str:
    """HTML as text: tags dropped, whitespace folded, Sphinx's typographic quotes made plain again."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", fragment))
    return " ".join(text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\"")).split())


def test_the_event_source_has_its_page_with_every_argument(site):
    """antsibull-docs does not render EDA plugins: the source's page is ours (docs/docsite/rst/admin_watch.rst),
    and it must name every argument of the plugin's DOCUMENTATION with its default."""
    import runpy

    import yaml

    page = site / SITE_COLLECTION / "docsite" / "admin_watch.html"
    assert page.is_file(), "no page for the admin_watch event source"
    text = text_of(page)
    plugin = runpy.run_path(str(REPO / "extensions" / "eda" / "plugins" / "event_source" / "admin_watch.py"))
    options = yaml.safe_load(plugin["DOCUMENTATION"])["options"]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(), flags=re.S)
    cells = {text_of_fragment(row).split(" ", 1)[0]: text_of_fragment(row) for row in rows}
    for name, option in options.items():
        assert name in cells, f"the page does not document the argument {name}"
        if option.get("default") not in (None, "", []):
            assert str(option["default"]) in cells[name], f"{name}: default {option['default']} not on its row"
    for kind in ("exhausted", "recovered", "clients_near_limit", "daemon_down", "host_unreachable", "host_reachable"):
        assert kind in text, f"the page does not describe the event {kind}"


def test_the_closed_loop_guide_has_the_rulebook_its_variables_and_the_controller(site):
    page = site / SITE_COLLECTION / "docsite" / "closed_loop.html"
    assert page.is_file(), "no Closed loop guide"
    text = text_of(page)
    for heading in ("Run it with ansible-rulebook", "Run it under the EDA controller"):
        assert heading in text, f"the guide has no section {heading!r}"
    for name in (
        "virtops.libvirt_admin.guard",
        "virtops.libvirt_admin.remediate",
        "guard_job_template.yml",
        "decision-environment.yml",
    ):
        assert name in text, f"the guide never names {name}"
    playbook = (REPO / "playbooks" / "remediate.yml").read_text()
    documented = set(re.findall(r"^#\s+(libvirt_admin_remediate_\w+)", playbook, flags=re.M))
    guard = (REPO / "extensions" / "eda" / "rulebooks" / "guard.yml").read_text()
    documented |= set(re.findall(r"^#\s+(libvirt_admin_guard_\w+)", guard, flags=re.M))
    assert len(documented) >= 10, documented
    missing = sorted(name for name in documented if name not in text)
    assert not missing, f"variables the guide does not describe: {missing}"
