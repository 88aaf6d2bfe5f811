# SEM Depth Studio: build and check the desktop app (Linux and macOS; on Windows run the
# commands of the `dist` and `smoke` recipes by hand, see README "Desktop build").
#
#   make dist    one-folder desktop build in dist/semdepth/ (prints build time and size)
#   make smoke   headless smoke test of that build (self-tests offscreen, --version)
#   make test    the checks and tests (scripts/test.sh);  make run: the app (scripts/run.sh)

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
DIST := dist/semdepth
# extra arguments for the self-tests, e.g. SMOKE_ARGS="--model path/to/model.safetensors"
SMOKE_ARGS ?=
# PyTorch for a new .venv. On Linux PyPI's default torch wheel is the CUDA build (GBs more in
# the desktop folder); TORCH_INDEX=https://download.pytorch.org/whl/cpu gives the CPU build.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: dist smoke test run clean-dist

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check \
	  $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[build]'

dist: $(PYTHON)
	@$(PYTHON) -c "import PyInstaller" 2>/dev/null || \
	  $(PYTHON) -m pip install -q --disable-pip-version-check "pyinstaller>=6.3"
	@start=$$(date +%s); \
	$(PYTHON) -m PyInstaller --noconfirm --log-level WARN build_app.spec || exit $$?; \
	end=$$(date +%s); \
	echo "desktop build: $(DIST)/ in $$((end - start)) s, $$(du -sh $(DIST) | cut -f1)"; \
	echo "run it: $(DIST)/semdepth-gui   (CLI: $(DIST)/semdepth --help)"

smoke:
	@[ -x $(DIST)/semdepth-gui ] || { echo "no desktop build in $(DIST): run make dist"; exit 2; }
	@TIMEFORMAT='smoke test passed in %R s'; time ( set -e; \
	  QT_QPA_PLATFORM=offscreen $(DIST)/semdepth-gui --self-test $(SMOKE_ARGS); \
	  $(DIST)/semdepth --version; \
	  $(DIST)/semdepth self-test $(SMOKE_ARGS) )

test:
	bash scripts/test.sh

run:
	bash scripts/run.sh

clean-dist:
	rm -rf build/build_app $(DIST)
