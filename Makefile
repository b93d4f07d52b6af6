# The two commands: `make run` (the demo, alerts streaming) and `make test`.
# Each creates the virtual environment first if it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install lint bench eval stories clean help
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the monitor and its test tools into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv with the monitor and its test tools

run: $(STAMP)  ## run the demo on the embedded broker and Redis; alerts stream here (Ctrl-C stops)
	$(BIN)/monitor run --demo

# The browser tests drive Debian's chromium package; installed (as root, or with sudo) when missing.
$(CHROMIUM):
	@echo "installing Debian's chromium for the status page's browser tests ..."
	@$$(test "$$(id -u)" = 0 || echo sudo) env DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -q && apt-get install -y -q chromium'

test: $(STAMP) $(CHROMIUM)  ## run the whole test suite (starts its own broker, redis-server, chromium)
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check monitor agents tests bench
	$(BIN)/ruff format --check monitor agents tests bench
	$(BIN)/mypy

eval: $(STAMP)  ## precision, recall, F1 and mistakes on the dev set and the demo timeline
	$(BIN)/python bench/eval.py

stories: $(STAMP)  ## story grouping against the demo's labelled developments: one `new` alert each?
	$(BIN)/python bench/stories.py --list

bench: $(STAMP)  ## articles per second of the matcher: shipped rules, 1,000 rules, a naive loop
	$(BIN)/python bench/matcher.py

clean:  ## remove the virtual environment and runtime data
	rm -rf $(VENV) .monitor .pytest_cache .mypy_cache .ruff_cache
