# devrobot on a fresh machine: `make run` (the main job) and `make test` (every test).
# Neither needs ROS: the venv holds the Python dependencies, colcon comes from Debian.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := src/devrobot_core src/devrobot_sim src/devrobot_jetbot src/devrobot_world_model src/devrobot_bringup
RUN_DIR ?= runs/sim
STEPS ?= 1000
POLICY ?= uncertainty

.PHONY: run test pytest bench clean

$(STAMP): requirements.txt $(wildcard src/*/setup.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(addprefix -e ,$(PACKAGES))
	touch $@

## run: the simulator and the world model in one process; prints where the run went.
run: $(STAMP)
	$(VENV)/bin/devrobot run --robot sim --learn --policy $(POLICY) --steps $(STEPS) \
	  --out $(RUN_DIR)

## test: every package's tests and linters through colcon (installed from Debian if missing).
test: $(STAMP)
	bash tools/test_workspace.sh

## pytest: the same tests with plain pytest, no colcon (quicker while developing).
pytest: $(STAMP)
	@status=0; for p in $(PACKAGES); do (cd $$p && ../../$(PY) -m pytest -q -p no:cacheprovider test) || status=1; done; exit $$status

bench: $(STAMP)
	$(PY) benchmarks/bench_foundation.py

clean:
	rm -rf build install log
