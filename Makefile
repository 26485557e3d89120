# mmsearch: `make demo` to try it, `make test` to check it. Both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmsearch-installed
PORT ?= 8501
DB ?= data/mmsearch.db

.PHONY: help install server-venv lite3-venv sysdeps demo serve test test-fast bench clean

help:
	@echo "make demo   - install, index the sample photos and catalogue, start the app"
	@echo "make test   - install and run the whole test suite"
	@echo "make bench  - run the benchmarks (tables in bench/results/)"

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,whisper-base,whisper-reference]'
	@# aisfx's metadata pins numpy 1.23 / librosa 0.9: we use only its checkpoint and model code.
	$(PY) -m pip install -q --no-deps 'aisfx==0.1.2'
	@touch $(STAMP)

install: $(STAMP)

# A real Milvus 2.3.5 standalone server for the congruence tests, in its own venv:
# the PyPI package `milvus` would shadow this repo's milvus/ package in .venv.
SERVER_VENV := .venv-milvus-server
$(SERVER_VENV)/.installed:
	@test -x $(SERVER_VENV)/bin/python || $(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/python -m pip install -q 'milvus==2.3.5'
	@touch $@

server-venv: $(SERVER_VENV)/.installed

# Milvus Lite 3.2 (pure-Python engine, nullable fields) as a loopback server for the congruence
# tests and the latency benchmark; the embedded default is Lite 2.5 and one venv holds one Lite.
LITE3_VENV := .venv-lite3
$(LITE3_VENV)/.installed:
	@test -x $(LITE3_VENV)/bin/python || $(PYTHON) -m venv $(LITE3_VENV)
	$(LITE3_VENV)/bin/python -m pip install -q 'milvus-lite==3.2.2' 'pymilvus==3.0.2'
	@touch $@

lite3-venv: $(LITE3_VENV)/.installed

# System packages: Chromium for the browser tests, sample photos and Fashion-MNIST for the demo,
# freedesktop sounds for the audio tests and benchmark, LibriVox speech (pocketsphinx-testdata) for the video tests.
sysdeps:
	@missing=""; \
	for p in chromium opencv-doc dataset-fashion-mnist sound-theme-freedesktop pocketsphinx-testdata espeak-ng; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install sysdeps
	$(VENV)/bin/mmsearch demo --db $(DB) --port $(PORT)

serve: install
	$(VENV)/bin/mmsearch serve --db $(DB) --port $(PORT)

test: install server-venv lite3-venv sysdeps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not ui"

bench: install server-venv lite3-venv sysdeps
	$(PY) -m bench

clean:
	rm -rf data tests/artifacts .pytest_cache
