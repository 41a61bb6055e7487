# Two commands on a fresh clone (each sets itself up first):
#   make demo   - the main job on built-in synthetic data
#   make test   - every test, notebooks included (SAMTL_FAST=1 unless you set it), then the book
# and the course as a site: make book (build/site; docs/book/about.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test book lint figures lab clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,book]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/samtl demo

# nbval stops each notebook's kernel with a kill, so the notebooks' temporary run folders would stay in /tmp:
# the tests get a scratch TMPDIR of their own, removed afterwards
test: $(VENV)/.installed
	$(BIN)/ruff check .
	scratch=$$(mktemp -d) && TMPDIR=$$scratch SAMTL_FAST=$${SAMTL_FAST:-1} $(BIN)/python -m pytest -p no:cacheprovider \
		tests notebooks --nbval-lax --nbval-current-env; status=$$?; rm -rf $$scratch; exit $$status
	$(MAKE) --no-print-directory book

# The course as a static site in build/site: the lessons executed in fast mode into build/notebooks
# (BOOK_FLAGS="--full --threads 4" for full mode), or executed copies taken from NOTEBOOKS=DIR (e.g. a GPU's full
# run: python docs/run_notebooks.py --full --out DIR); then the pages, mkdocs build --strict, and the site's check
NOTEBOOKS  ?=
BOOK_FLAGS ?= --threads 2
book: $(VENV)/.installed
ifeq ($(NOTEBOOKS),)
	$(BIN)/python docs/run_notebooks.py $(BOOK_FLAGS) --out build/notebooks
endif
	$(BIN)/python docs/book/assemble.py --notebooks $(or $(NOTEBOOKS),build/notebooks) --out build
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -f build/mkdocs.yml
	$(BIN)/python docs/check_book.py build/site

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks

figures: $(VENV)/.installed
	$(BIN)/python docs/make_figures.py

clean:
	rm -rf $(VENV) runs .pytest_cache build
