# One-command setup, demo and tests on a fresh Debian 12 machine (run as root or with sudo rights for apt).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v qgis_process.bin >/dev/null 2>&1 || /usr/bin/python3 -c "import qgis.core" 2>/dev/null || \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		  python3-qgis qgis qgis-providers python3-venv )
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1" "numpy<2" "affine<3"
	$(PY) -m pip install -q -e ".[dev]" "numpy<2" "affine<3"
	@touch $(STAMP)

demo: setup
	$(PY) -m dinomc_core.demo --out demo_output

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) demo_output .pytest_cache
