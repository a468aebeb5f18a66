"""A vLLM worker extension that reloads a checkpoint exactly (loaded inside the vLLM server, not by agentrl).

Start the server with ``--worker-extension-cls agentrl_vllm_worker.ExactReload`` and this directory on
``PYTHONPATH`` (the launcher does both); the client then calls ``POST /collective_rpc``
``{"method": "agentrl_reload_weights", "kwargs": {"weights_path": DIR}}``.

Why: vLLM's built-in ``reload_weights`` reloads parameters in place, but on the CPU platform every linear layer
computes through ``layer.cpu_linear``, a closure over weights packed once after loading
(``dispatch_cpu_unquantized_gemm``). A layer whose weights are *tied* to another's (the ``lm_head`` of models with
``tie_word_embeddings``, e.g. Qwen3 0.6B-4B and agentrl's tiny models) loads nothing itself, so its packed copy is
not rebuilt: the embedding takes the new weights, the output projection keeps the old ones (0.15-1 nats off).
This method repacks every layer whose unpacked weight is kept, after the reload.

It imports only vLLM and torch (this file runs in the server's environment, where agentrl is not installed).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any


class ExactReload:
    """Mixed into vLLM's worker class (``--worker-extension-cls``); ``self`` is the worker."""

    def agentrl_reload_weights(self, weights_path: str) -> dict[str, Any]:
        """Reload weights from the checkpoint directory ``weights_path``, then repack CPU GEMM weights."""
        t0 = time.perf_counter()
        # checked before anything is touched: a reload that fails half-way leaves layers unloaded
        if not os.path.isdir(weights_path) or not glob.glob(os.path.join(weights_path, "*.safetensors")):
            raise ValueError(f"weights_path {weights_path!r} is not a directory holding *.safetensors files")
        self.model_runner.reload_weights(weights_path=weights_path)
        repacked = []
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

            for name, module in self.model_runner.get_model().named_modules():
                weight = getattr(module, "weight", None)
                # layers packed with remove_weight=True keep an empty weight and were re-processed by the reload;
                # those that keep theirs (embeddings, lm_head) may hold a stale packed copy
                if hasattr(module, "cpu_linear") and weight is not None and weight.ndim == 2 and weight.numel():
                    dispatch_cpu_unquantized_gemm(module, remove_weight=False)
                    repacked.append(name)
        return {"weights_path": weights_path, "repacked": repacked, "seconds": time.perf_counter() - t0}
