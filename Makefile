# Two commands on a fresh clone (each sets itself up first):
#   make demo   - the main job on built-in synthetic data
#   make test   - every test, notebooks included (SAMTL_FAST=1 unless you set it)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint figures lab clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/samtl demo

# nbval stops each notebook's kernel with a kill, so the notebooks' temporary run folders would stay in /tmp:
# the tests get a scratch TMPDIR of their own, removed afterwards
test: $(VENV)/.installed
	$(BIN)/ruff check .
	scratch=$$(mktemp -d) && TMPDIR=$$scratch SAMTL_FAST=$${SAMTL_FAST:-1} $(BIN)/python -m pytest -p no:cacheprovider \
		tests notebooks --nbval-lax --nbval-current-env; status=$$?; rm -rf $$scratch; exit $$status

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks

figures: $(VENV)/.installed
	$(BIN)/python docs/make_figures.py

clean:
	rm -rf $(VENV) runs .pytest_cache
