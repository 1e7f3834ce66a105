# The Ansible controller: ansible and ansible-lint from a hash-pinned lock, in a venv outside the repo.
# Included by the main Makefile (BUILD_CACHE, HOST_ARCH, CLEAN_PIP, locked_install, TOOLS).
ANSIBLE_VENV := $(BUILD_CACHE)/ansible-venv

.PHONY: ansible-env test-ansible ansible-wheelhouse lint-ansible

$(ANSIBLE_VENV)/.installed: wheelhouse/locks/ansible-linux-$(HOST_ARCH).txt
	@test -x $(ANSIBLE_VENV)/bin/python || $(PYTHON) -m venv $(ANSIBLE_VENV)
	$(call locked_install,$(ANSIBLE_VENV),$<)
	@touch $@

ansible-env: $(ANSIBLE_VENV)/.installed ## Ansible controller venv (ansible, ansible-lint) in $(BUILD_CACHE)/ansible-venv

test-ansible: system-deps $(VENV)/.installed ansible-env lint-ansible ansible-wheelhouse apt-repo wheelhouse vendor ## boot Debian 12 containers: site.yml, then the bundle's offline install, upgrade, rollback (root)
	GATEWAY_ANSIBLE=1 $(PY) -m pytest -q -p no:cacheprovider --durations=15 tests/ansible tests/bundle -m ansible

ansible-wheelhouse: $(TOOLS)/.installed ## the Ansible controller's wheels for $(ARCHES) (the bundle carries them)
	$(CLEAN_PIP) $(TOOLS_PY) wheelhouse/tools/fetch.py build --set ansible $(addprefix linux-,$(ARCHES))

lint-ansible: ansible-env ## ansible-lint, production profile, offline (the collections of ansible/requirements.yml come in the ansible wheel)
	cd ansible && ANSIBLE_CONFIG=$(CURDIR)/ansible/ansible.cfg PATH=$(ANSIBLE_VENV)/bin:$$PATH ansible-lint --offline --profile production site.yml
