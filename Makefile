# Two commands a newcomer needs on a CPU machine: `make run` (train the embedded default) and `make test`.
# Both set up first and are safe to run again.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
TORCH ?= torch==2.13.0
TORCH_BUILD ?= auto

.PHONY: setup run test bench clean

setup:
	@# torch first: the CPU build from PyTorch's CPU index without a CUDA GPU (else pip pulls a CUDA build), the CUDA build with one
	@$(PYTHON) tools/install_torch.py --spec "$(TORCH)" --build $(TORCH_BUILD)
	$(PIP) install -q -e ".[dev]"
	@# bubblewrap sandboxes the code env (Debian package; needs root to install, else a loud warning later)
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "warning: bubblewrap not installed; code sandbox falls back to weaker isolation"

run: setup
	$(PYTHON) -m agentrl.run $(ARGS)

test: setup
	$(PYTHON) -m pytest -q -ra $(ARGS)

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done

clean:
	rm -rf runs .pytest_cache build *.egg-info
