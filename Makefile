# The two commands a user needs: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := .build
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/vmpayload/core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONPATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export LC_ALL := C.UTF-8

.PHONY: deps services guest demo test unit integration ecosystem docs bench clean

$(BUILD)/system.stamp: bindep.txt
	@mkdir -p $(BUILD)
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
	$(PYTHON) -m venv $(BUILD)/bindep-venv && $(BUILD)/bindep-venv/bin/pip install -q bindep
	missing="$$($(BUILD)/bindep-venv/bin/bindep -b test || true)"; \
	if [ -n "$$missing" ]; then $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	touch $@

$(VENV)/stamp: requirements.txt tests/requirements.txt | $(BUILD)/system.stamp
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r tests/requirements.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

deps: $(BUILD)/system.stamp $(VENV)/stamp $(COLLECTION_LINK)

# libvirtd and virtlogd: through systemd where the machine has it, as plain daemons where it does not
# (tests/start-libvirt.sh says how, and when it gives a root-only /dev/kvm udev's group and mode).
services: deps
	$(SUDO) bash tests/start-libvirt.sh

guest: $(BUILD)/guest/initrd.img

$(BUILD)/guest/initrd.img: tests/guest/init tests/guest/build-guest.sh | $(BUILD)/system.stamp
	bash tests/guest/build-guest.sh $(BUILD)/guest

demo: deps services guest
	$(VENV)/bin/ansible-playbook -e ansible_python_interpreter=$(CURDIR)/$(PY) playbooks/demo.yml

unit: deps
	$(PY) -m pytest -q -rs tests/unit

integration: deps services guest
	$(PY) -m pytest -q -rs tests/integration

test: deps services guest
	$(PY) -m pytest -q -rs --durations=40 tests/ecosystem tests/integration

# The gates that keep the collection usable by the ecosystem's tools (docs, changelog, execution environment).
ecosystem: deps
	$(PY) -m pytest -q -rs tests/ecosystem

docs: deps
	$(PY) docs/build_docsite.py

bench: deps
	$(PY) benchmarks/image_build.py
	$(PY) benchmarks/vm_payload.py
	$(PY) benchmarks/ovirt_requests.py
	$(PY) benchmarks/fleet.py

clean:
	rm -rf $(BUILD) $(VENV) tests/output docs/build
