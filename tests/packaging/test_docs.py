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
