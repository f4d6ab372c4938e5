# Contrail: the two commands are `make demo` and `make test`; everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONTRAIL := $(BIN)/contrail
JOBS ?= 2

.PHONY: deps venv java demo demo-destroy test test-slow unit lint bench clean

## deps: Debian packages (docker.io, vagrant, packer, debootstrap, rsync, ssh), a venv, a running dockerd
deps: venv
	$(CONTRAIL) doctor --fix
	@# Contrail's bytecode, written now: `fab` imports it on every push, and a shell that sets
	@# PYTHONDONTWRITEBYTECODE (as CI images often do) would otherwise compile it again on every run
	$(BIN)/python -m compileall -q contrail

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

DEMO_DIR ?= .demo/django-app
DEMO_PORT ?= 8080

## demo: from a fresh clone to the Django example live behind HAProxy → 2 Nginx → 3 Gunicorn → PostgreSQL
demo: deps
	$(CONTRAIL) build-boxes -j $(JOBS)
	mkdir -p $(DEMO_DIR)
	rsync -a examples/django-app/ $(DEMO_DIR)/
	cd $(DEMO_DIR) && $(abspath $(CONTRAIL)) startdev --vagrant --port $(DEMO_PORT)
	cd $(DEMO_DIR) && $(abspath $(CONTRAIL)) up
	cd $(DEMO_DIR) && $(abspath $(BIN))/fab push
	cd $(DEMO_DIR) && $(abspath $(CONTRAIL)) status
	@echo
	@echo "The example app is live: http://127.0.0.1:$$(sed -n 's/^host_port = \([0-9]*\).*/\1/p' $(DEMO_DIR)/contrail.toml)/"
	@echo "Iterate: edit $(DEMO_DIR)/visits/templates/visits/index.html, then (cd $(DEMO_DIR) && ../../.venv/bin/fab push)"

## demo-destroy: remove the demo environment's machines
demo-destroy: venv
	cd $(DEMO_DIR) && $(abspath $(CONTRAIL)) destroy

# Contrail, its tests and benchmarks, and the Python the boxes install (three scripts without .py)
PYTHON_SOURCES = contrail tests bench provision_scripts/contrail-files \
  provision_scripts/contrail-files/contrail-switch provision_scripts/contrail-files/contrail-push \
  provision_scripts/contrail-files/contrail-agent

## test: the whole suite (unit, integration against real Docker and Packer, end to end with Vagrant)
test: deps java
	@command -v psql >/dev/null || (apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-client)
	$(BIN)/ruff check $(PYTHON_SOURCES)
	$(BIN)/pytest -m "not slow"

## test-slow: the very slow tests `make test` leaves out (the 4-VM topology where VMs run without KVM)
test-slow: deps java
	$(BIN)/pytest -m slow

# What the Tomcat tests and benchmark need on the host: the JDK and the servlet API (the example .war is
# built from source), and Tomcat's own sample.war and examples webapp (the .wars users bring).
java:
	@[ -e /usr/share/java/tomcat10-servlet-api.jar ] && command -v javac >/dev/null && \
	  [ -e /usr/share/tomcat10-docs/docs/appdev/sample/sample.war ] && [ -d /usr/share/tomcat10-examples/examples ] || \
	  (apt-get update -q && apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless libtomcat10-java \
	    tomcat10-docs tomcat10-examples)

unit: venv
	$(BIN)/pytest tests/unit

lint: venv
	$(BIN)/ruff check $(PYTHON_SOURCES)
	$(BIN)/ruff format --check $(PYTHON_SOURCES)

bench: deps java
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .contrail .pytest_cache
