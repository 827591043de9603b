# Two commands: `make lab` (install, then open the course) and `make test` (install, then test everything).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# --nbval-cell-timeout only guards against a hung cell. Beside `yes > /dev/null` on 2 cores, lesson 09's training cell
# (about 200 s idle) ran past 900 s and failed (2026-11-29), so the guard is 2400 s.
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout 2400
export MPLBACKEND := Agg
# PyTorch's CPU threads (GNU OpenMP) spin 300,000 times, by default, waiting for each other after every operation.
# When another program keeps one core busy, the thread sharing that core loses its turn at every wait: a lesson-08
# U-Net step took 17x longer (1.7 s, not 0.1 s) beside `yes > /dev/null`. Spinning 10,000 times before sleeping costs
# about 5 % when the machine is idle and keeps that step at 3.4x. The results do not change (only how threads wait).
# Every kernel that make lab, make test and make bench start inherits this.
export GOMP_SPINCOUNT ?= 10000

.PHONY: setup lab test unit nbval students notebooks bench solutions clean grading test-grading test-browser browser-deps grading-venv test-oldest

setup: $(STAMP)  ## create .venv and install the course (idempotent, quick when nothing changed)

# torch first, from PyTorch's CPU index on Linux without an NVIDIA GPU (a ~190 MB wheel, not the multi-GB
# CUDA build); from the default index elsewhere or when that index does not answer within seconds.
$(STAMP): pyproject.toml constraints.txt course/tools/install.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch $$($(PY) course/tools/install.py torch-index-args)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	$(PY) course/tools/install.py lab-settings
	touch $(STAMP)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup  ## open JupyterLab on the student notebooks
	MPLBACKEND= $(VENV)/bin/jupyter lab notebooks/00_start_here.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# After the unit tests, nbval runs solutions/ with an empty model cache (every model trains for real and meets
# its targets) and strict exercise checks (a wrong answer fails). Beside it, on one thread at the lowest CPU
# priority (SCHED_IDLE with `chrt`, else nice 19), the student notebooks (exercises left blank) run, each once its
# own solution has run (course/tools/solved.py), finding the models it trained: in JupyterLab in headless
# Chromium, widgets moved as a learner would (tests/test_browser.py),
# or with nbval where there is no browser (never in CI). The solutions keep the CPU; the students use what the
# solutions leave idle (one-thread trainings, plotting, starting kernels), and their time limits count only after
# the solutions' run has ended. The students' output is printed when both have ended. Measured: a lesson-08 U-Net
# step took 104 ms alone, 101 beside a busy SCHED_IDLE thread, 136 beside a busy nice-19 one.
LOWEST_PRIORITY := $(shell command -v chrt >/dev/null 2>&1 && chrt --idle 0 true 2>/dev/null && echo chrt --idle 0 || echo nice -n 19)
test: setup  ## unit tests, then every solution (nbval) and, beside them, every student notebook (browser, or nbval)
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory nbval

# The unit tests keep their own model cache (tests/conftest.py), whatever COURSE_CACHE a learner has set.
unit: setup
	env -u COURSE_CACHE $(PY) -m pytest -q tests --ignore=tests/test_browser.py

nbval: setup
	@export COURSE_CACHE=$$(mktemp -d) COURSE_SOLVED_DIR=$$(mktemp -d); \
	echo "solutions/ (nbval), and beside them the student notebooks (their output: $$COURSE_SOLVED_DIR/students.log, printed at the end)"; \
	( COURSE_STRICT_CHECKS=1 $(PY) -m pytest -q $(NBVAL) solutions; rc=$$?; touch $$COURSE_SOLVED_DIR/all.done; exit $$rc ) & \
	solutions=$$!; \
	OMP_NUM_THREADS=1 $(LOWEST_PRIORITY) $(MAKE) --no-print-directory students > $$COURSE_SOLVED_DIR/students.log 2>&1; \
	students_rc=$$?; wait $$solutions; solutions_rc=$$?; \
	echo "---- the student notebooks, run beside the solutions:"; cat $$COURSE_SOLVED_DIR/students.log; \
	echo "solutions: exit $$solutions_rc; students: exit $$students_rc"; \
	test $$solutions_rc = 0 && test $$students_rc = 0

BROWSER_OK = $(shell test -x "$${CHROMIUM:-/usr/bin/chromium}" && $(PY) -c "import playwright" 2>/dev/null && echo yes)

students: setup  ## run every student notebook: in the browser where Chromium and Playwright are (always in CI), else nbval
	@if [ "$$CI" = true ] || [ -n "$(BROWSER_OK)" ]; then BROWSER_LESSONS=all $(PY) -m pytest -q -s tests/test_browser.py; \
	else echo "No Chromium or Playwright here: the student notebooks run with nbval, not in a browser (see make test-browser)."; \
	$(PY) -m pytest -q $(NBVAL) notebooks; fi


notebooks: setup  ## write notebooks/ (student versions) from solutions/
	$(PY) -m course.tools.student

bench: setup  ## run the solution notebooks headless; seconds and metrics per notebook
	$(PY) -m course.tools.bench --json bench.json $(NB)

solutions: setup  ## re-execute solutions/ in place (refresh stored outputs), then regenerate notebooks/
	$(PY) -m course.tools.bench --save $(NB)
	$(PY) -m course.tools.student

clean:
	rm -rf $(VENV) .cache bench.json

# Teachers: an nbgrader course folder (answer cells = solution cells, check cells = autograder tests).
GRADING_DIR   ?= build/grading
GRADING_VENV  := .cache/grading-venv
NBGRADER_SPEC := nbgrader==0.9.6

grading: setup  ## write an nbgrader course folder, $(GRADING_DIR)/source/<lesson>/ (see docs/teachers.md)
	$(PY) -m course.tools.student --grading $(GRADING_DIR)

# nbgrader's autograder runs the kernel named python3: make it the course's .venv Python.
$(GRADING_VENV)/.installed-stamp: $(STAMP)
	test -x $(GRADING_VENV)/bin/python || $(PYTHON) -m venv $(GRADING_VENV)
	$(GRADING_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GRADING_VENV)/bin/python -m pip install --quiet "$(NBGRADER_SPEC)"
	$(PY) -m ipykernel install --prefix $(GRADING_VENV) --name python3 --display-name "Python 3 (course)"
	touch $@

grading-venv: $(GRADING_VENV)/.installed-stamp  ## nbgrader in its own venv (.cache/grading-venv), for the grading test

test-grading: setup grading-venv  ## nbgrader round trip: release, answer, autograde, score
	$(PY) -m pytest -q tests/test_grading.py

# The browser test: JupyterLab in headless Chromium (Debian's /usr/bin/chromium; Playwright never downloads one).
# `.ci/run` installs chromium with apt-get; on your machine: `sudo apt-get install chromium` (or set CHROMIUM=path).
PLAYWRIGHT_SPEC := playwright==1.65.2

browser-deps: setup  ## pip-install Playwright (the Python driver only, no browser) into .venv
	$(PY) -m pip install --quiet "$(PLAYWRIGHT_SPEC)"

BROWSER_LESSONS ?= all
test-browser: browser-deps  ## every lesson in JupyterLab in headless Chromium (BROWSER_LESSONS="00 04" for some); screenshots in a temporary folder
	BROWSER_LESSONS="$(BROWSER_LESSONS)" $(PY) -m pytest -q -s tests/test_browser.py

# Colab's versions: the oldest the package claims (Python 3.10, torch 2.2, ipywidgets 7.7.1 as on Colab), in
# .cache/oldest-venv; unit tests (browser test left out: it drives JupyterLab 4), then every student notebook (each has
# a widget) with the model cache of your own runs (COURSE_CACHE, or ~/.cache/genimg-course): what is not cached trains.
OLDEST_PYTHON ?= python3.10
OLDEST_VENV   := .cache/oldest-venv
OLDEST_PINS   := "numpy<2" "ipywidgets==7.7.1"
OLDEST_TORCH  := torch==2.2.0

test-oldest:  ## unit tests and every lesson with Python 3.10, torch 2.2.0, ipywidgets 7.7.1 (make test-oldest OLDEST_PYTHON=...)
	test -x $(OLDEST_VENV)/bin/python || $(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet "$(OLDEST_TORCH)" "numpy<2" $$($(OLDEST_VENV)/bin/python course/tools/install.py torch-index-args)
	$(OLDEST_VENV)/bin/python -m pip install --quiet "$(OLDEST_TORCH)" $(OLDEST_PINS) -e ".[test]"
	$(OLDEST_VENV)/bin/python -m pytest -q tests --ignore=tests/test_browser.py
	$(OLDEST_VENV)/bin/python -m pytest -q $(NBVAL) notebooks
