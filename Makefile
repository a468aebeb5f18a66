# Two commands a newcomer needs on a CPU machine: `make run` (train the embedded default) and `make test`.
# Both set up first and are safe to run again.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
TORCH_CPU ?= torch==2.13.0

.PHONY: setup run test bench clean

setup:
	@# torch first: on CPU machines this is the local CPU wheel; otherwise pip would pull a CUDA build
	$(PIP) install -q "$(TORCH_CPU)"
	$(PIP) install -q -e ".[dev]"
	@# bubblewrap sandboxes the code env (Debian package; needs root to install, else a loud warning later)
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "warning: bubblewrap not installed; the code sandbox uses its unshare mode as root and refuses to run code otherwise"

run: setup
	$(PYTHON) -m agentrl.run $(ARGS)

test: setup
	$(PYTHON) -m pytest -q -ra $(ARGS)

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done

clean:
	rm -rf runs .pytest_cache build *.egg-info
