"""Install the PyTorch build this machine can use; ``make setup`` runs it before installing agentrl.

Without a CUDA GPU (no ``nvidia-smi`` on PATH, no ``/dev/nvidia*``) it installs the CPU build from PyTorch's
CPU wheel index, and when that index cannot be reached, what the configured pip index serves (on PyPI's Linux
wheels that is the multi-GB CUDA build, so it says so). With a GPU it installs the CUDA build from the
configured index (PyPI's Linux wheels are CUDA builds). A torch that already matches the spec and the build
is left alone, so running it again costs a metadata read. It prints the choice it made.

    python tools/install_torch.py [--spec torch==2.13.0] [--build auto|cpu|cuda] [--cpu-index URL]
                                  [--force] [--pip-dry-run]

Only the standard library and pip are used: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BUILDS = ("auto", "cpu", "cuda")


def find_cuda_gpu(which: Callable[[str], str | None] = shutil.which, dev: Path = Path("/dev")) -> tuple[bool, str]:
    """(whether an NVIDIA GPU is visible, the evidence in words)."""
    smi = which("nvidia-smi")
    if smi:
        return True, f"found {smi}"
    nodes = sorted(dev.glob("nvidia*")) if dev.is_dir() else []
    if nodes:
        return True, f"found {nodes[0]}"
    return False, "no CUDA GPU: no nvidia-smi, no /dev/nvidia*"


def build_of(version: str, requires: Sequence[str]) -> str:
    """``"cuda"`` or ``"cpu"`` for a torch distribution, from its version's local tag and its requirements."""
    local = version.partition("+")[2]
    if local.startswith("cu"):
        return "cuda"
    if local:
        return "cpu"  # +cpu (and +rocm/+xpu builds, which bring no CUDA either)
    return "cuda" if any(r.strip().lower().startswith("nvidia-") for r in requires) else "cpu"


def installed_torch() -> tuple[str, str] | None:
    """(version, build) of the installed torch, or None; read from its metadata, without importing it."""
    try:
        dist = importlib.metadata.distribution("torch")
    except importlib.metadata.PackageNotFoundError:
        return None
    return dist.version, build_of(dist.version, dist.requires or [])


def _specifier(spec: str):
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare venv: pip vendors packaging
        from pip._vendor.packaging.requirements import Requirement
    req = Requirement(spec)
    if req.name.lower() != "torch":
        raise ValueError(f"--spec {spec!r} must name torch, e.g. torch==2.13.0")
    return req.specifier


def plan(installed: tuple[str, str] | None, want: str, spec: str) -> str:
    """``keep`` (the installed torch fits), ``install`` (none or another version) or ``reinstall`` (wrong build)."""
    if installed is None:
        return "install"
    version, build = installed
    if not _specifier(spec).contains(version, prereleases=True):
        return "install"
    return "keep" if build == want else "reinstall"


def index_reachable(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether ``url``/torch/ answers within ``timeout`` seconds (any HTTP answer but a server error counts)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return True, "reachable"
    except urllib.error.HTTPError as e:
        return e.code < 500, f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        return False, str(getattr(e, "reason", e))


def pip_install(args: list[str], dry_run: bool) -> int:
    cmd = [sys.executable, "-m", "pip", "install", *(["--dry-run"] if dry_run else ["-q"]), *args]
    print("$ " + shlex.join(cmd), flush=True)  # the interpreter too: the command as it runs
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="torch==2.13.0", help="the torch requirement (default torch==2.13.0)")
    ap.add_argument("--build", default="auto", help="auto (CPU without a CUDA GPU, else CUDA), cpu or cuda")
    ap.add_argument("--cpu-index", default=CPU_INDEX, help=f"PyTorch's CPU wheel index ({CPU_INDEX})")
    ap.add_argument("--force", action="store_true", help="install even when the installed torch fits")
    ap.add_argument("--pip-dry-run", action="store_true", help="ask pip what it would install; change nothing")
    a = ap.parse_args(argv)
    if a.build not in BUILDS:
        print(f"error: --build {a.build!r} is not one of {', '.join(BUILDS)}", file=sys.stderr)
        return 2
    try:
        _specifier(a.spec)
    except Exception as e:  # noqa: BLE001 - packaging's InvalidRequirement or ours
        print(f"error: --spec {a.spec!r} is not a torch requirement ({e}); e.g. torch==2.13.0", file=sys.stderr)
        return 2
    gpu, why = find_cuda_gpu()
    want = a.build if a.build != "auto" else ("cuda" if gpu else "cpu")
    why = why if a.build == "auto" else f"--build {a.build}"
    print(f"torch: the {want.upper()} build ({why})", flush=True)
    installed = installed_torch()
    action = "reinstall" if a.force and installed else plan(installed, want, a.spec)
    if action == "keep":
        print(f"torch: {installed[0]} already installed ({installed[1].upper()} build), nothing to do")
        return 0
    extra = ["--force-reinstall"] if action == "reinstall" else []
    if action == "reinstall":
        print(f"torch: replacing {installed[0]} ({installed[1].upper()} build)")
    if want == "cpu":
        ok, reason = index_reachable(a.cpu_index)
        if ok:
            rc = pip_install(["--index-url", a.cpu_index, "--timeout", "15", "--retries", "0", *extra, a.spec],
                             a.pip_dry_run)
            if rc == 0:
                return _check(want, a.pip_dry_run)
            print(f"torch: installing from PyTorch's CPU index {a.cpu_index} failed; installing {a.spec} from "
                  "the configured index instead", flush=True)
        else:
            print(f"torch: PyTorch's CPU index {a.cpu_index} is unreachable ({reason}); installing {a.spec} from "
                  "the configured index", flush=True)
    rc = pip_install([*extra, a.spec], a.pip_dry_run)
    return rc if rc != 0 else _check(want, a.pip_dry_run)


def _check(want: str, dry_run: bool) -> int:
    """Say which build ended up installed (a CUDA build on a CPU machine works, but is a large download)."""
    got = None if dry_run else installed_torch()
    if got is not None and got[1] != want:
        print(f"torch: warning: got {got[0]} ({got[1].upper()} build), not the {want.upper()} build: the "
              f"configured index serves no other; it runs, but on CPU machines the CUDA build is only weight")
    elif got is not None:
        print(f"torch: {got[0]} installed ({got[1].upper()} build)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
