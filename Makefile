# The few commands people need. `make demo` and `make test` work on a fresh clone.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.calozoo-installed

.PHONY: install demo test lint format bench clean

install: $(STAMP)

# torch==2.13.0 is the local CPU build: the pins in the pyprojects keep pip from pulling CUDA wheels.
$(STAMP): pyproject.toml plugins/toyflow/pyproject.toml geometries/ild/pyproject.toml geometries/calochallenge/pyproject.toml engine/pyproject.toml plugins/refmc/pyproject.toml plugins/caloclouds3/pyproject.toml plugins/caloclouds2/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/toyflow -e geometries/ild -e geometries/calochallenge -e engine -e plugins/refmc -e plugins/caloclouds3 -e plugins/caloclouds2
	touch $(STAMP)

demo: install  ## CaloClouds3 showers in the ILD barrel, summarised against reference-MC showers
	$(BIN)/calozoo generate caloclouds3 -n 1000 --energy 50 --theta 90 --phi 90 --seed 1 -o demo/caloclouds3.h5
	$(BIN)/calozoo project demo/caloclouds3.h5 demo/caloclouds3_barrel.h5 --geometry ild-ecal-barrel
	$(BIN)/calozoo simulate demo/reference -n 500 --preset none --energy 50 --seed 2 --physics-version 2
	$(BIN)/calozoo evaluate caloclouds3=demo/caloclouds3.h5 --reference demo/reference/shard-00000.h5 \
		--geometry ild-ecal-barrel --report demo/report

test: install  ## lint, then every test (core and plugins)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install  ## timing benchmarks; results go to docs/benchmarks.md
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache showers.h5 demo
