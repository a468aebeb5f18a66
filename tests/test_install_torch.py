"""``make setup``'s torch step: the CPU build without a CUDA GPU, the CUDA build with one, nothing when it fits."""

from __future__ import annotations

import importlib.util
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "install_torch.py"


@pytest.fixture(scope="module")
def it():
    spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_detection_reads_nvidia_smi_and_device_nodes(it, tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    assert it.find_cuda_gpu(which=lambda _: None, dev=dev)[0] is False
    assert it.find_cuda_gpu(which=lambda _: "/usr/bin/nvidia-smi", dev=dev)[0] is True
    (dev / "nvidia0").touch()
    found, why = it.find_cuda_gpu(which=lambda _: None, dev=dev)
    assert found and "nvidia0" in why


@pytest.mark.parametrize("version, requires, build", [
    ("2.13.0+cpu", [], "cpu"),
    ("2.13.0+cu128", ["nvidia-cublas-cu12==12.8; platform_system == 'Linux'"], "cuda"),
    ("2.13.0", ["filelock", "nvidia-cuda-runtime-cu12==12.8.90; platform_system == \"Linux\""], "cuda"),
    ("2.13.0", ["filelock", "sympy>=1.13.3"], "cpu"),  # macOS / a CPU wheel without a local tag
])
def test_build_of_a_torch_distribution(it, version, requires, build):
    assert it.build_of(version, requires) == build


@pytest.mark.parametrize("installed, want, spec, action", [
    (None, "cpu", "torch==2.13.0", "install"),
    (("2.13.0+cpu", "cpu"), "cpu", "torch==2.13.0", "keep"),
    (("2.13.0+cpu", "cpu"), "cpu", "torch>=2.4", "keep"),
    (("2.12.0+cpu", "cpu"), "cpu", "torch==2.13.0", "install"),
    (("2.13.0+cpu", "cpu"), "cuda", "torch==2.13.0", "reinstall"),
    (("2.13.0", "cuda"), "cpu", "torch==2.13.0", "reinstall"),
    (("2.13.0", "cuda"), "cuda", "torch==2.13.0", "keep"),
])
def test_plan(it, installed, want, spec, action):
    assert it.plan(installed, want, spec) == action


def test_bad_build_is_a_one_line_error():
    r = subprocess.run([sys.executable, str(SCRIPT), "--build", "rocm"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "rocm" in r.stderr and "auto" in r.stderr and "Traceback" not in r.stderr


def test_here_it_keeps_the_installed_cpu_build_and_says_so(it):
    """This machine has no GPU and the CPU build installed: the step says so and installs nothing."""
    if it.find_cuda_gpu()[0]:
        pytest.skip("a CUDA GPU is present here")
    installed = it.installed_torch()
    if installed is None or installed[1] != "cpu":
        pytest.skip("torch's CPU build is not what is installed here")
    r = subprocess.run([sys.executable, str(SCRIPT), "--spec", f"torch=={installed[0].split('+')[0]}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "CPU build" in r.stdout and "no CUDA GPU" in r.stdout and "already installed" in r.stdout
    assert "pip install" not in r.stdout


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_cpu_index_falls_back_to_the_configured_index(it):
    """With PyTorch's index out of reach, pip is asked (dry run here) for the spec from the configured index."""
    installed = it.installed_torch()
    if installed is None:
        pytest.skip("no torch installed")
    url = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    spec = f"torch=={installed[0].split('+')[0]}"  # the installed version: pip finds it where it found it before
    r = subprocess.run([sys.executable, str(SCRIPT), "--build", "cpu", "--cpu-index", url, "--force", "--pip-dry-run",
                        "--spec", spec], capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert "unreachable" in out and url in out and "configured index" in out, out
    assert "--index-url" not in out.split("configured index", 1)[1]  # the fallback is a plain pip install
    assert r.returncode == 0, out
    assert "Would install" in out and "torch-" in out


def test_pip_commands_are_printed_with_their_interpreter(it, capfd):
    """The printed command runs as printed: `$ <python> -m pip install ...`, not `$ -m pip install ...`."""
    assert it.pip_install(["--help"], dry_run=True) == 0
    first = capfd.readouterr().out.splitlines()[0]
    assert first == "$ " + shlex.join([sys.executable, "-m", "pip", "install", "--dry-run", "--help"])
