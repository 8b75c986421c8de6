# Two commands matter: `make run` (the whole stack, embedded servers) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint eval bench chaos clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## API, worker, beat and Flower; embedded Redis and SQLite unless REDIS_URL / DATABASE_URL are set
	$(PY) -m scripts.run_stack

test: $(STAMP)  ## real PostgreSQL, Redis and Celery workers (TEST_DATABASE_URL / TEST_REDIS_URL, or throwaway servers)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) -m bandit -q -c pyproject.toml -r .

eval: $(STAMP)  ## top-1 emotion accuracy of the default model on the held-out set
	$(PY) -m scripts.eval_emotions

bench: $(STAMP)  ## raw model vs. plain FastAPI + Celery vs. this platform, side by side (BENCH_ARGS="--quick", "--model noop")
	$(PY) -m scripts.bench $(BENCH_ARGS)

chaos: $(STAMP)  ## 2,000 jobs through worker kills and Redis/PostgreSQL restarts; fails on any lost or duplicated job
	$(PY) -m scripts.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
