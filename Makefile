# Two commands: `make lab` (install, then open the course) and `make test` (install, then test everything).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout 900
export MPLBACKEND := Agg

.PHONY: setup lab test unit nbval notebooks bench solutions clean

setup: $(STAMP)  ## create .venv and install the course (idempotent, quick when nothing changed)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	touch $(STAMP)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup  ## open JupyterLab on the student notebooks
	MPLBACKEND= $(VENV)/bin/jupyter lab notebooks/00_start_here.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# nbval runs solutions/ first with an empty model cache (every model trains for real and meets its
# targets) and strict exercise checks (a wrong answer fails), then notebooks/ (exercises left blank),
# whose training cells find the models the solutions just trained.
test: setup  ## unit tests, then nbval over every solution and student notebook
	$(PY) -m pytest -q tests
	$(MAKE) --no-print-directory nbval

unit: setup
	$(PY) -m pytest -q tests

nbval: setup
	export COURSE_CACHE=$$(mktemp -d) && COURSE_STRICT_CHECKS=1 $(PY) -m pytest -q $(NBVAL) solutions && $(PY) -m pytest -q $(NBVAL) notebooks


notebooks: setup  ## write notebooks/ (student versions) from solutions/
	$(PY) -m course.tools.student

bench: setup  ## run the solution notebooks headless; seconds and metrics per notebook
	$(PY) -m course.tools.bench --json bench.json $(NB)

solutions: setup  ## re-execute solutions/ in place (refresh stored outputs), then regenerate notebooks/
	$(PY) -m course.tools.bench --save $(NB)
	$(PY) -m course.tools.student

clean:
	rm -rf $(VENV) .cache bench.json
