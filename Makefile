# virtops.libvirt_admin: set-up, demo and tests.
#
#   make demo   set everything up, then run the threadpool playbook against a
#               sandboxed libvirtd this starts and stops itself
#   make test   set everything up, then run every test (lint, sanity, unit, integration)
#
# Run as root on Debian/Ubuntu: the set-up installs packages with apt and the
# tests start libvirt daemons in private mount namespaces.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUILD := .build
APT_PACKAGES := libvirt-daemon libvirt-clients libvirt-dev pkg-config gcc python3-dev python3-venv util-linux openssh-server chromium sudo
# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>.
SANITY_ROOT := $(BUILD)/sanity/ansible_collections/virtops/libvirt_admin
PYTEST_WORKERS ?= 2
# Ansible finds this checkout as virtops.libvirt_admin through a link here.
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
# Newer libvirt versions the tests also run (tests/integration/test_versions.py), each
# unpacked into $(BUILD)/libvirt-X.Y beside the system's, never installed: see
# tests/harness/libvirt_versions.py (11.3 comes from Debian's bookworm-backports).
LIBVIRT_VERSIONS := 11.3

.PHONY: setup demo test lint sanity unit integration integration-versions integration-protocol bench clean

setup: $(BUILD)/apt.stamp $(BIN)/.installed $(BIN)/.libvirt-python $(BUILD)/get-pip.stamp $(BUILD)/debs.stamp $(COLLECTIONS)/ansible_collections/virtops/libvirt_admin \
	$(foreach version,$(LIBVIRT_VERSIONS),$(BUILD)/libvirt-$(version).stamp)

$(COLLECTIONS)/ansible_collections/virtops/libvirt_admin:
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

$(BUILD)/apt.stamp:
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing with apt: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

# Private apt sources, lists and cache under $(BUILD)/apt-X.Y (the system's apt
# configuration is not changed), apt-get download, dpkg -x, then an ldd check.
$(BUILD)/libvirt-%.stamp: tests/harness/libvirt_versions.py $(BUILD)/apt.stamp
	$(PYTHON) -m tests.harness.libvirt_versions fetch $*
	@touch $@

# Debian's shipped config files (libvirtd.conf, virtlogd.conf, ...), which the config-edit tests
# edit: the package is downloaded, not installed.
$(BUILD)/debs.stamp: $(BUILD)/apt.stamp
	mkdir -p $(BUILD)/debs
	cd $(BUILD)/debs && (apt-get download libvirt-daemon-system 2>/dev/null || (apt-get update -qq && apt-get download libvirt-daemon-system))
	@touch $@

# The tools: a venv, no apt and no root (make lint and make unit need only this).
$(BIN)/.installed: requirements-dev.txt
	@$(PYTHON) -m venv $(VENV) || { echo "$(PYTHON) -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv) or run make setup as root"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

# libvirt-python, which the integration tests' clients use, builds against libvirt-dev (apt).
$(BIN)/.libvirt-python: requirements-libvirt.txt $(BIN)/.installed $(BUILD)/apt.stamp
	$(BIN)/pip install -q -r requirements-libvirt.txt
	@touch $@

# `ansible-test sanity --venv` downloads get-pip.py from a host these machines
# cannot reach; put the stand-in where ansible-test looks first.
$(BUILD)/get-pip.stamp: $(BIN)/.installed tests/sanity/get_pip_standin.py
	@version=$$(grep -ohP "pip='\K[0-9.]+" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py); \
	mkdir -p ~/.ansible/test/cache; \
	cp tests/sanity/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${version//./_}.py
	@touch $@

demo: setup
	$(BIN)/python -m tests.harness.sandbox -- bash -c '\
	  set -e; \
	  echo "=== first run: report, raise the worker pool (diff), report ==="; \
	  $(BIN)/ansible-playbook -i localhost, -c local virtops.libvirt_admin.threadpool --diff \
	    -e libvirt_admin_become=false -e libvirt_admin_hosts=localhost \
	    -e libvirt_admin_min_workers=8 -e libvirt_admin_max_workers=40 -e libvirt_admin_prio_workers=8; \
	  echo "=== second run: the same settings again, nothing to change ==="; \
	  $(BIN)/ansible-playbook -i localhost, -c local virtops.libvirt_admin.threadpool --diff \
	    -e libvirt_admin_become=false -e libvirt_admin_hosts=localhost \
	    -e libvirt_admin_min_workers=8 -e libvirt_admin_max_workers=40 -e libvirt_admin_prio_workers=8 \
	    | tee $(BUILD)/demo-rerun.log; \
	  grep -q "changed=0" $(BUILD)/demo-rerun.log'

test: setup lint sanity unit integration integration-versions integration-protocol packaging

lint: $(BIN)/.installed $(COLLECTIONS)/ansible_collections/virtops/libvirt_admin
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# Offline, ansible-lint puts $$ANSIBLE_HOME/collections (default ~/.ansible/collections) first on the
	# collections path: a copy of this collection installed there would hide this checkout's modules.
	ANSIBLE_HOME=$(abspath $(BUILD))/ansible-lint-home $(BIN)/ansible-lint --profile production --offline

sanity: setup
	rm -rf $(BUILD)/sanity
	mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(SANITY_ROOT)
	# A repository of its own, so that ansible-test does not see this checkout's .gitignore.
	cd $(SANITY_ROOT) && git init -q && git add -A
	cd $(SANITY_ROOT) && $(abspath $(BIN))/ansible-test sanity --venv --python $$($(abspath $(BIN))/python -c "import sys; print(\"%d.%d\" % sys.version_info[:2])") --color no

unit: $(BIN)/.installed $(COLLECTIONS)/ansible_collections/virtops/libvirt_admin
	$(BIN)/python -m pytest -q tests/unit

integration: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) tests/integration

# The integration suite again, against daemons (and module libraries) of each other libvirt version;
# not the end-to-end tests marked `once` (roles, fleets, report, load): the fleet tests run a mixed
# 9.0/11.3 fleet already.
integration-versions: setup
	@for version in $(LIBVIRT_VERSIONS); do \
	  echo "=== integration tests against libvirt $$version ==="; \
	  VIRTOPS_LIBVIRT_VERSION=$$version $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not once" tests/integration || exit 1; \
	done

# The integration suite again with the protocol backend (pure Python, no libvirt library), against the
# system's libvirt (9.0): the modules take LIBVIRT_ADMIN_BACKEND when a task gives no backend. Not the
# `once` tests: the backends' own tests (test_protocol*, test_backend_equivalence) cover both already.
integration-protocol: setup
	LIBVIRT_ADMIN_BACKEND=protocol $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not once" tests/integration

bench: setup
	$(BIN)/python bench/server_info.py

# The enforce playbook with nothing to change against `ansible all -m ping` over fleets of 5, 10 and 20
# SSH hosts on loopback (tests/harness/fleet.py); BENCH_FLEET_ARGS="--variants --json PATH" for more.
.PHONY: bench-fleet
bench-fleet: setup
	$(BIN)/python bench/fleet.py $(BENCH_FLEET_ARGS)

clean:
	rm -rf $(BUILD) $(VENV)

# Under load (README "Under load"): the worker-exhaustion story against a sandboxed libvirtd with a
# real load of volume wipes (tests/harness/load.py).
#   make demo-load     the story's test, printing the daemon's state as it goes
#   make bench-load    job waits with the small pool and after raising it, server_info with the main
#                      pool saturated and idle; a table and a plot (.build/bench/load.png)
#   make reliability   tests/integration/test_reliability.py with the issue's 200 consecutive runs
#                      (make test runs 30)
RELIABILITY_RUNS ?= 200
.PHONY: demo-load bench-load reliability

demo-load: setup
	VIRTOPS_LOAD_DEMO=1 $(BIN)/python -m pytest -s -q -p no:cacheprovider tests/integration/test_load_story.py

bench-load: setup
	$(BIN)/python bench/load.py

reliability: setup
	VIRTOPS_RELIABILITY_RUNS=$(RELIABILITY_RUNS) $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_reliability.py

# --- Docs, changelog, packaging, execution environment, version matrix ----------------
#
#   make docs       the HTML docs site (antsibull-docs, Sphinx) in .build/docs/html
#   make changelog  fold changelogs/fragments into the release of galaxy.yml's version
#                   (rewrites changelogs/changelog.yaml and CHANGELOG.rst: run before a release)
#   make package    the collection tarball (ansible-galaxy collection build) in .build/dist
#   make packaging  the tests of those (tests/packaging): the site builds with a page per
#                   module and role, the changelog is current, the tarball installs and its
#                   modules and playbooks run against a sandboxed daemon, the EE metadata
#   make matrix     ansible-test sanity and the unit tests on the oldest and the newest
#                   ansible-core the collection claims (MATRIX_CORES, one venv each in
#                   .build/matrix); with those and with .venv's, the modules under mitogen
#                   and with each managed-host Python (tests/matrix)

RELEASE_VENV := $(BUILD)/venv-release
RELEASE_BIN := $(RELEASE_VENV)/bin
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
DIST := $(BUILD)/dist
MATRIX := $(BUILD)/matrix
MATRIX_CORES := 2.17 2.21
PYENV_ROOT ?= $(HOME)/.pyenv
# The Python of each core's venv (tests/matrix/ansible-core-X.Y.txt pins the rest):
# 2.17 runs on this machine's python3 (3.10 to 3.12); 2.20 and newer need 3.12 or newer,
# which Debian 12 does not ship: pyenv's, or one on PATH as python3.12 / python3.13.
MATRIX_PYTHON_2.17 := $(PYTHON)
MATRIX_PYTHON_2.21 := $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12 $(PYENV_ROOT)/versions/3.13*/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.13 /usr/local/bin/python3.12 /usr/local/bin/python3.13))
# What the matrix copies for ansible-test: the tree, less what git would not see.
SANITY_COPY_EXCLUDES := --exclude=./.git --exclude=./.build --exclude=./.venv --exclude=./.hypothesis \
	--exclude=./.pytest_cache --exclude=./.ruff_cache --exclude=./.ansible --exclude=__pycache__ --exclude='*.pyc' \
	--exclude=./tests/output --exclude='./*.tar.gz'

.PHONY: docs changelog package packaging matrix matrix-modules
.PRECIOUS: $(MATRIX)/ansible-core-%/.installed

$(RELEASE_BIN)/.installed: requirements-release.txt $(BUILD)/apt.stamp
	$(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_BIN)/pip install -q --upgrade pip
	$(RELEASE_BIN)/pip install -q -r requirements-release.txt
	@touch $@

docs: $(RELEASE_BIN)/.installed $(COLLECTIONS)/ansible_collections/virtops/libvirt_admin
	PATH=$(abspath $(RELEASE_BIN)):$$PATH $(RELEASE_BIN)/python docs/site/build.py $(BUILD)/docs

# antsibull-changelog works on a copy of the collection outside this checkout (it would copy
# .venv and .build otherwise); the new changelogs/ and CHANGELOG.rst are copied back. Run again
# until the release, it updates the release (new modules, roles, fragments, descriptions).
changelog: $(RELEASE_BIN)/.installed
	PATH=$(abspath $(RELEASE_BIN)):$$PATH antsibull-changelog lint
	@work=$$(mktemp -d /tmp/virtops-changelog.XXXXXX); \
	tar -cf - $(SANITY_COPY_EXCLUDES) . | tar -xf - -C $$work && \
	(cd $$work && PATH=$(abspath $(RELEASE_BIN)):$$PATH antsibull-changelog release --version $(VERSION) \
	  --update-existing --reload-plugins --refresh-plugins prevent-removal) && \
	rm -rf changelogs && cp -a $$work/changelogs changelogs && cp $$work/CHANGELOG.rst CHANGELOG.rst; \
	status=$$?; rm -rf $$work; exit $$status

package: $(BIN)/.installed
	rm -f $(DIST)/virtops-libvirt_admin-$(VERSION).tar.gz
	$(BIN)/ansible-galaxy collection build --output-path $(DIST) .

packaging: setup $(RELEASE_BIN)/.installed
	VIRTOPS_RELEASE_BIN=$(abspath $(RELEASE_BIN)) $(BIN)/python -m pytest -q tests/packaging

# One venv per ansible-core, with ansible-test's pip bootstrap served locally (see get-pip.stamp).
$(MATRIX)/ansible-core-%/.installed: tests/matrix/ansible-core-%.txt tests/sanity/get_pip_standin.py $(BUILD)/apt.stamp
	@if [ -z "$(MATRIX_PYTHON_$*)" ]; then \
	  echo "ansible-core $* needs Python 3.12 or newer, and none was found (looked in $(PYENV_ROOT)/versions, /usr/bin, /usr/local/bin)."; \
	  echo "Install one (pyenv install 3.12, or a python3.12 package), or run: make matrix MATRIX_CORES=2.17"; exit 1; fi
	rm -rf $(@D)
	$(MATRIX_PYTHON_$*) -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q -r $<
	@version=$$(grep -ohP "pip='\K[0-9.]+" $(@D)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py); \
	mkdir -p ~/.ansible/test/cache; \
	cp tests/sanity/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${version//./_}.py
	@touch $@

matrix-sanity-%: $(MATRIX)/ansible-core-%/.installed
	rm -rf $(MATRIX)/ansible-core-$*/sanity
	mkdir -p $(MATRIX)/ansible-core-$*/sanity/ansible_collections/virtops/libvirt_admin
	tar -cf - $(SANITY_COPY_EXCLUDES) . | tar -xf - -C $(MATRIX)/ansible-core-$*/sanity/ansible_collections/virtops/libvirt_admin
	cd $(MATRIX)/ansible-core-$*/sanity/ansible_collections/virtops/libvirt_admin && git init -q && git add -A && \
	  $(abspath $(MATRIX))/ansible-core-$*/bin/ansible-test sanity --venv --color no \
	    --python $$($(abspath $(MATRIX))/ansible-core-$*/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Not the rulebooks' schema test: ansible-rulebook is installed in .venv only (make unit runs it).
matrix-unit-%: $(MATRIX)/ansible-core-%/.installed
	$(MATRIX)/ansible-core-$*/bin/python -m pytest -q -p no:cacheprovider tests/unit --ignore tests/unit/extensions/test_rulebooks.py

matrix-modules-%: $(MATRIX)/ansible-core-%/.installed setup
	$(MATRIX)/ansible-core-$*/bin/python -m pytest -q -p no:cacheprovider tests/matrix

# tests/matrix (the modules under mitogen, with each managed-host Python) with this venv's ansible-core too.
matrix-modules: setup
	$(BIN)/python -m pytest -q tests/matrix

matrix: setup $(foreach core,$(MATRIX_CORES),matrix-sanity-$(core) matrix-unit-$(core) matrix-modules-$(core)) matrix-modules

# --- Hosts of other Debian releases (tests/harness/releases.py) ----------------------
#
#   make releases   root filesystems of bullseye (libvirt 7.0.0), trixie (11.3.0) and sid (12.8.0),
#                   and bookworm-bare (no libvirt: the host of a containerised libvirt),
#                   built with debootstrap once per machine into $(RELEASES_DIR) (outside the
#                   checkout) and reused while their recipe is unchanged; the release fleet hosts
#                   (tests/harness/fleet.py ReleaseHost) run chrooted in them. Measured here: 2 min 20 s
#                   on a fresh machine (54 s, 45 s, 40 s; about 260 MB each; bookworm-bare 155 s on a busy
#                   mirror, 194 MB), 0.2 s when all are current.
# The machine's own root (bookworm, libvirt 9.0.0) is the fourth release. The roots' own stamps (a hash
# of each recipe) decide what is built, so `make releases` always asks tests/harness/releases.py.
RELEASES_DIR ?= /var/cache/virtops-releases
export VIRTOPS_RELEASES_DIR := $(RELEASES_DIR)
RELEASE_SUITES := bullseye trixie sid bookworm-bare
APT_PACKAGES += debootstrap
.PHONY: releases

# debootstrap joined APT_PACKAGES after some machines' apt.stamp was made: install it when missing.
$(BUILD)/debootstrap.stamp: $(BUILD)/apt.stamp
	@command -v debootstrap >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap)
	@touch $@

releases: $(BUILD)/debootstrap.stamp
	$(PYTHON) -m tests.harness.releases build $(RELEASE_SUITES)

# The tests that start release hosts (tests/integration/test_releases.py) need the roots.
integration: releases

# Closed loop (docs/docsite/rst/closed_loop.rst, issue 18): Event-Driven Ansible's ansible-rulebook runs the guard
# rulebook (extensions/eda/rulebooks/guard.yml), whose source virtops.libvirt_admin.admin_watch watches the
# daemons and whose rules run virtops.libvirt_admin.remediate.
#   make demo-guard   the guard beside a sandboxed libvirtd under load (tests/integration/test_guard.py's
#                     local test), printing the pool as the guard raises it and the queue drains
#   make bench-eda    saturation to event, to the pool raised, to the queue drained (medians of 5 runs), and
#                     the watch's controller CPU per host and poll over fleets of 10 and 30 SSH hosts
BENCH_EDA_ARGS ?=
.PHONY: demo-guard bench-eda

demo-guard: setup
	VIRTOPS_GUARD_DEMO=1 $(BIN)/python -m pytest -s -q -p no:cacheprovider tests/integration/test_guard.py -k this_machine

bench-eda: setup
	$(BIN)/python bench/eda.py $(BENCH_EDA_ARGS)
