# Two commands set everything up on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench lint chaos

$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m devstack run

chaos: install
	$(PY) -m devstack chaos --profile full $(if $(SEED),--seed $(SEED)) $(if $(DURATION),--duration $(DURATION))

test: install
	$(PY) -m devstack test $(ARGS)

bench: bench-engine bench-hotstage bench-scaleout bench-campaign bench-runs bench-scans bench-fairness

bench-%: install
	$(PY) -m devstack bench $*
