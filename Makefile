# Two commands for a fresh machine: `make demo` and `make test`. Both create and reuse .venv.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
STAMP := .venv/.distilser-installed

.PHONY: demo test setup export docs bench clean

setup: $(STAMP) node_modules/.package-lock.json

# onnxruntime-web for the web page (nbs/11_web.ipynb), exactly as package-lock.json pins it
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# torch 2.14.1 + torchaudio 2.11.0 is the pair known to work on this machine; it goes in first so
# that the package's ranges are already satisfied and pip downloads no other build.
$(STAMP): settings.ini setup.py
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip 'setuptools<80' wheel
	$(PIP) install -q torch==2.14.1 torchaudio==2.11.0
	$(PIP) install -q -e '.[train,pte,listen,whisper,ray,dev]'
	touch $(STAMP)

export: setup
	.venv/bin/nbdev_export

demo: setup
	bash scripts/demo.sh

# one torch thread a notebook: two notebooks run at once on two cores, and a second thread each only contends
test: setup
	OMP_NUM_THREADS=1 .venv/bin/nbdev_test --n_workers 2 --timing
	.venv/bin/python -m pytest -q tests

# The documentation site without Quarto (`nbdev_docs` builds the same site where Quarto is installed):
# executes every notebook as nbdev_test does, renders _docs/*.html and README.md from nbs/index.ipynb.
# Both read the one site configuration, the top-level _quarto.yml (nbs/_quarto.yml, where nbdev 2 looks, links to it).
# Debian's Chromium + chromedriver are for tests/test_docs.py, which opens the pages in a real browser.
docs: setup
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	.venv/bin/nbdev_export
	OMP_NUM_THREADS=1 $(PY) scripts/build_docs.py --n_workers 2

clean:
	rm -rf runs/demo _docs _proc
