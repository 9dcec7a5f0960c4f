# One-command setup, demo and tests on a fresh Debian 12 machine (run as root or with sudo rights for apt).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# xvfb and xauth: the desktop test runs the real QGIS binary on a virtual X display (xvfb-run).
DEBIAN_PACKAGES := python3-qgis qgis qgis-providers python3-venv python3-pyproj python3-fiona xvfb xauth
PROFILE ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default

.PHONY: setup system-packages demo test plugin qgis-install clean default-models gpu-pack

setup: system-packages $(STAMP)

# QGIS and the geospatial Python packages that must share its GDAL/PROJ (pyproj, fiona) come from Debian.
system-packages:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) )

$(STAMP): pyproject.toml
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@# Debian's pyproj looks for PROJ's data under the interpreter prefix, which is the venv here.
	@mkdir -p $(VENV)/share && ln -sfn /usr/share/proj $(VENV)/share/proj
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1" "numpy<2" "affine<3"
	$(PY) -m pip install -q -e ".[dev]" "numpy<2" "affine<3"
	@touch $(STAMP)

demo: setup
	PY=$(PY) bash scripts/demo.sh demo_output

# Rebuild the shipped models (dinomc_core/models/shipped/) from ../shared/data: 4 minutes on 2 idle CPU cores for the
# encoder (about 10 when the cores are shared); log and figures in docs/. Never in CI.
default-models: setup
	PY=$(PY) bash scripts/default_models.sh

# The OSCD scenes' first dates packed to travel to a lent GPU (scripts/gpu_pretrain.sh; docs/pretraining.md).
OSCD_IMAGES := ../shared/data/oscd/Onera Satellite Change Detection dataset - Images
gpu-pack: setup
	mkdir -p packed && $(PY) -m dinomc_core.pack "$(OSCD_IMAGES)"/*/imgs_1 --out packed/oscd_first_dates.npz

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

# The QGIS plugin as a zip for "Install from ZIP": the dinomc_qgis folder with metadata.txt inside.
plugin:
	rm -rf build/plugin dist/dinomc_qgis.zip && mkdir -p build/plugin dist
	cp -r dinomc_qgis build/plugin/ && cp metadata.txt build/plugin/dinomc_qgis/
	find build/plugin -name __pycache__ -prune -exec rm -rf {} +
	rm -f build/plugin/dinomc_qgis/worker.json
	cd build/plugin && /usr/bin/python3 -m zipfile -c ../../dist/dinomc_qgis.zip dinomc_qgis

# The plugin in a QGIS profile, enabled, with this checkout's environment recorded as the worker that runs the models.
qgis-install: setup plugin
	/usr/bin/python3 scripts/qgis_install.py dist/dinomc_qgis.zip --profile "$(PROFILE)" \
		--python "$(abspath $(PY))" --source "$(CURDIR)"

clean:
	rm -rf $(VENV) demo_output .pytest_cache build dist
