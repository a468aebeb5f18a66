"""In-process generation with a transformers model: KV cache and continuous batching.

One worker thread owns the model while it decodes. Requests join the running batch as soon as there is room
(their prompts are prefilled together, left-padded, and their KV caches merged into the batch's) and leave it
the step they finish, so a long generation never holds short ones back and finished rows cost nothing — the
difference from ``model.generate`` on a padded batch. A finished row leaves a hole rather than a copy of the
whole KV cache: arrivals that fit take over holes in place, and the batch is compacted only once holes make
up a quarter of its rows (copying the cache at every finish cost more than the decode steps themselves).
torch releases the GIL inside kernels, so the asyncio loop (env steps, HTTP) keeps running while the worker
computes.

Sampling is done per row (temperature, top-p, top-k, stop tokens) with one random stream per request seeded
from ``SamplingParams.seed``: a request's ids do not depend on which other requests share its batch (up to
float rounding of batched matmuls, which can only matter for a uniform draw within ~1e-6 of a boundary).
Log-probs are computed from the same logits the token was sampled from, so they are exact.

Weight sync is in place: the backend can hold the very ``nn.Module`` the learner trains, and
:meth:`LocalBackend.update_weights` only bumps :attr:`LocalBackend.version` (or copies a given state dict in
under the model lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicLayer

from agentrl.kvcache import cache_kwargs
from agentrl.rollout.backends.base import BackendFatalError, Generation, SamplingParams

log = logging.getLogger(__name__)

def kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token takes in ``model`` (all layers, keys and values, at its parameter dtype)."""
    cfg = getattr(model, "config", None)
    get = (lambda k, d=None: getattr(cfg, k, d)) if cfg is not None else (lambda k, d=None: d)
    text = get("text_config") or cfg  # multimodal configs keep the decoder's shape under text_config
    layers = getattr(text, "num_hidden_layers", 1) or 1
    heads = getattr(text, "num_attention_heads", 1) or 1
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or (getattr(text, "hidden_size", 64) or 64) // heads
    try:
        size = next(model.parameters()).element_size()
    except (StopIteration, AttributeError, TypeError):
        size = 4
    return max(1, 2 * layers * kv_heads * head_dim * size)


@dataclass(eq=False)
class _Request:
    prompt: list[int]
    sampling: SamplingParams
    max_new: int
    stop: frozenset[int]
    rng: np.random.Generator
    callback: Any  # called once with a Generation or an Exception (from the worker thread)
    out_ids: list[int] = field(default_factory=list)
    out_logprobs: list[float] = field(default_factory=list)
    out_versions: list[int] = field(default_factory=list)  # the weight version each token was sampled with
    cancelled: bool = False
    finish: str | None = None
    session_id: str | None = None
    prefix: Any = None  # (ids, [(k, v) per layer]) of this session's previous turn, reused by the prefill


@dataclass
class LocalStats:
    """Counters of the worker (cumulative)."""

    requests: int = 0
    generated_tokens: int = 0
    prefill_tokens: int = 0
    reused_prefix_tokens: int = 0
    decode_steps: int = 0
    prefill_calls: int = 0
    busy_s: float = 0.0
    max_running: int = 0
    hole_admissions: int = 0  # arrivals placed in place into the rows of finished requests
    compactions: int = 0  # copies of the batch's cache that dropped finished rows


class LocalBackend:
    """Continuous-batching generation with an in-process transformers causal LM.

    Args:
        model: a transformers causal LM (e.g. ``Qwen3ForCausalLM``); may be the learner's own module.
        max_batch_size: sequences decoded together; more requests wait for a free row.
        max_context_tokens: prompt + generation limit (defaults to ``config.max_position_embeddings``).
        eos_token_ids: extra ids that end every request (default: the model config's ``eos_token_id``,
            as SGLang does unless ``ignore_eos``).
        prefix_cache_tokens: KV of finished turns kept per ``session_id`` (LRU, in tokens) so a trajectory's
            next turn only prefills its new tokens (0 disables). Also bounded by ``prefix_cache_bytes``.
        prefix_cache_bytes: memory bound of that cache, from the model's KV size per token (SmolLM2 keeps
            46 KB a token in fp32: 2^18 tokens would be 12 GB; 1 GiB holds 23k tokens).
        admit_wait_steps: a waiting request joins the running batch after at most this many decode steps
            (sooner when enough requests wait to fill half the free rows); see :meth:`_admit_now`.
        autocast_dtype: run the forwards under autocast to this dtype (``torch.bfloat16`` on a CPU with
            AVX512-BF16/AMX or a GPU); sampling and log-probs stay float32. ``None``: the model's own dtype.
    """

    def __init__(self, model: Any, *, max_batch_size: int = 32, max_context_tokens: int | None = None,
                 eos_token_ids: list[int] | None = None, tokenizer: Any = None,
                 prefix_cache_tokens: int = 1 << 18, prefix_cache_bytes: int = 1 << 30,
                 admit_wait_steps: int = 8,
                 autocast_dtype: torch.dtype | None = None):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = int(max_batch_size)
        cfg = getattr(model, "config", None)
        self.max_context_tokens = int(max_context_tokens or getattr(cfg, "max_position_embeddings", 1 << 30))
        if eos_token_ids is None:
            eos = getattr(cfg, "eos_token_id", None)
            eos_token_ids = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
        self.eos_token_ids = frozenset(int(e) for e in eos_token_ids)
        self.autocast_dtype = autocast_dtype
        self.version = 0
        self.stats = LocalStats()
        self.model_lock = threading.RLock()  # held by the worker during each forward step
        self._pending: deque[_Request] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._num_rows = 0
        self.prefix_cache_tokens = min(int(prefix_cache_tokens), int(prefix_cache_bytes) // kv_bytes_per_token(model))
        self.admit_wait_steps = int(admit_wait_steps)
        self._waited = 0
        self._prefixes: OrderedDict[str, tuple[list[int], list[tuple[torch.Tensor, torch.Tensor]]]] = OrderedDict()
        self._prefix_tokens = 0

    # ------------------------------------------------------------------ public API
    async def generate(self, input_ids: list[int], sampling: SamplingParams, *,
                       session_id: str | None = None) -> Generation:
        """Sample a continuation of ``input_ids`` (see :class:`~agentrl.rollout.backends.base.Generation`)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Generation] = loop.create_future()

        def done(result: Generation | BaseException) -> None:
            def settle() -> None:
                if fut.done():
                    return
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop is closed: nobody waits for this result any more
                pass

        req = self._submit(input_ids, sampling, done, session_id)
        try:
            return await fut
        except asyncio.CancelledError:
            req.cancelled = True  # the worker drops the row at its next step
            raise

    def generate_sync(self, input_ids: list[int], sampling: SamplingParams) -> Generation:
        """Blocking :meth:`generate` for scripts (do not call it from the worker thread)."""
        box: list[Any] = []
        ev = threading.Event()

        def done(result: Any) -> None:
            box.append(result)
            ev.set()

        self._submit(input_ids, sampling, done)
        ev.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    async def update_weights(self, state_dict: dict[str, torch.Tensor] | None = None, *,
                             version: int | None = None, **_: Any) -> int:
        """Use new weights: in place (nothing to copy; just a new version) or from ``state_dict``.

        Returns the new :attr:`version` (``version`` when given, else the old one + 1). Safe to call while
        requests run: the copy waits for the current decode step to end, and the next step samples with the
        new weights and records the new version for its tokens.
        """
        if state_dict is not None:
            def load() -> None:
                with self.model_lock, torch.no_grad():
                    self.model.load_state_dict(state_dict, strict=False)
                    if version is not None:
                        self.version = int(version)
            await asyncio.to_thread(load)
        self.version = self.version + 1 if version is None else int(version)
        return self.version

    async def close(self) -> None:
        """Stop the worker; requests still waiting fail with :class:`BackendFatalError`."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def close_sync(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def num_active(self) -> int:
        """Requests waiting or being decoded right now."""
        return len(self._pending) + self._num_rows

    # ------------------------------------------------------------------ submission
    def _submit(self, input_ids: list[int], sampling: SamplingParams, callback: Any,
                session_id: str | None = None) -> _Request:
        if not input_ids:
            raise BackendFatalError("input_ids is empty; a prompt needs at least one token")
        ids = [int(t) for t in input_ids]
        vocab = getattr(getattr(self.model, "config", None), "vocab_size", None)
        if vocab is not None and (min(ids) < 0 or max(ids) >= vocab):
            bad = next(t for t in ids if t < 0 or t >= vocab)
            raise BackendFatalError(f"token id {bad} is outside the model's vocabulary [0, {vocab})")
        max_new = min(sampling.max_new_tokens, self.max_context_tokens - len(ids))
        rng = np.random.default_rng(sampling.seed)
        req = _Request(ids, sampling, max_new, frozenset(sampling.stop_token_ids) | self.eos_token_ids, rng,
                       callback, session_id=session_id)
        if max_new <= 0:  # the prompt already fills the context: nothing can be generated
            callback(Generation([], [], "length", prompt_tokens=len(ids)))
            return req
        with self._cv:
            if self._closed:
                raise BackendFatalError("LocalBackend is closed")
            if session_id is not None and session_id in self._prefixes:
                ids_before, kv = self._prefixes.pop(session_id)
                self._prefix_tokens -= len(ids_before)
                if len(ids_before) < len(ids) and ids[:len(ids_before)] == ids_before:
                    req.prefix = (ids_before, kv)
            self._pending.append(req)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="agentrl-local-backend", daemon=True)
                self._thread.start()
            self._cv.notify()
        return req

    # ------------------------------------------------------------------ the worker
    def _run(self) -> None:
        rows: list[_Request | None] = []  # None: a hole left by a finished row (see _retire)
        cache = mask = None
        try:
            while True:
                with self._cv:
                    while not self._closed and not rows and not self._pending:
                        self._cv.wait()
                    if self._closed:
                        break
                    new = []
                    live = _live(rows)
                    if self._admit_now(live):
                        while self._pending and live + len(new) < self.max_batch_size:
                            r = self._pending.popleft()
                            if not r.cancelled:
                                new.append(r)
                    self._waited += 1 if self._pending and not new else 0
                    if new:
                        self._waited = 0
                t0 = time.perf_counter()
                with self.model_lock, torch.inference_mode():
                    if new:  # prefill the arrivals together, sample their first token, merge them in
                        new, new_cache, new_mask, logits = self._prefill(new)
                        self._sample(new, logits)
                        self.stats.requests += len(new)
                        new_cache, new_mask, new = self._drop_finished(new, new_cache, new_mask)
                        cache, mask, rows = self._admit(new, new_cache, new_mask, rows, cache, mask)
                    if rows:  # one decode step for every running row (arrivals included)
                        logits, mask = self._decode(rows, cache, mask)
                        idx = [i for i, r in enumerate(rows) if r is not None]
                        self._sample([rows[i] for i in idx], logits[idx] if len(idx) < len(rows) else logits)
                        self.stats.max_running = max(self.stats.max_running, len(idx))
                        cache, mask, rows = self._retire(rows, cache, mask)
                self._num_rows = _live(rows)
                self.stats.busy_s += time.perf_counter() - t0
        except BaseException as e:  # noqa: BLE001 - a worker crash must fail every waiter, not hang them
            log.exception("local backend worker crashed")
            err = BackendFatalError(f"local backend worker crashed: {type(e).__name__}: {e}")
            for r in rows:
                if r is not None:
                    r.callback(err)
            rows = []
            with self._cv:
                self._closed = True
        finally:
            with self._cv:
                pending, self._pending = list(self._pending), deque()
            for r in [r for r in rows if r is not None] + pending:
                r.callback(BackendFatalError("LocalBackend closed before the request finished"))

    def _admit_now(self, running: int) -> bool:
        """Whether waiting requests join the batch this step.

        Each admission costs a prefill forward and a copy of the batch's KV cache, so arrivals are admitted
        in groups: at once when the batch is empty, when a quarter of the rows are free and enough requests
        wait to fill half of them, else after ``admit_wait_steps`` decode steps (bounding the extra latency).
        """
        if not self._pending or running >= self.max_batch_size:
            return False
        free = self.max_batch_size - running
        return (running == 0 or self._waited >= self.admit_wait_steps
                or (free >= max(1, self.max_batch_size // 4) and len(self._pending) >= max(1, free // 2)))

    def _drop_finished(self, rows: list[_Request], cache: Any, mask: Any, into: list[_Request] | None = None,
                       into_cache: Any = None, into_mask: Any = None) -> tuple[Any, Any, list[_Request]]:
        """Answer finished/cancelled rows, drop them, and (optionally) merge the rest into another batch."""
        keep = [i for i, r in enumerate(rows) if r.finish is None and not r.cancelled]
        for i, r in enumerate(rows):
            if r.finish is not None or r.cancelled:
                if r.session_id is not None and not r.cancelled and self.prefix_cache_tokens > 0:
                    self._store_prefix(r, cache, mask, i)
                self._finish(r)
        if len(keep) < len(rows):
            if keep:
                cache, mask = _select(cache, mask, keep)
                rows = [rows[i] for i in keep]
            else:
                rows, cache, mask = [], None, None
        if into:
            if not rows:
                return into_cache, into_mask, into
            into_cache, into_mask = _merge(into_cache, into_mask, cache, mask)
            return into_cache, into_mask, into + rows
        return cache, mask, rows

    def _retire(self, rows: list[_Request | None], cache: Any,
                mask: Any) -> tuple[Any, Any, list[_Request | None]]:
        """Answer finished/cancelled rows and leave holes in their place; compact once holes are a quarter of
        the rows (a compaction copies the whole cache)."""
        for i, r in enumerate(rows):
            if r is not None and (r.finish is not None or r.cancelled):
                if r.session_id is not None and not r.cancelled and self.prefix_cache_tokens > 0:
                    self._store_prefix(r, cache, mask, i)
                self._finish(r)
                rows[i] = None
        holes = len(rows) - _live(rows)
        if holes and (holes == len(rows) or 4 * holes >= len(rows)):
            keep = [i for i, r in enumerate(rows) if r is not None]
            if not keep:
                return None, None, []
            cache, mask = _select(cache, mask, keep)
            rows = [rows[i] for i in keep]
            self.stats.compactions += 1
        return cache, mask, rows

    def _admit(self, new: list[_Request], new_cache: Any, new_mask: Any, rows: list[_Request | None],
               cache: Any, mask: Any) -> tuple[Any, Any, list[_Request | None]]:
        cache, mask, rows, in_holes = _place(new, new_cache, new_mask, rows, cache, mask)
        self.stats.hole_admissions += len(new) if in_holes else 0
        return cache, mask, rows

    def _finish(self, r: _Request) -> None:
        reason = "abort" if r.cancelled and r.finish is None else r.finish
        r.callback(Generation(r.out_ids, r.out_logprobs, reason, prompt_tokens=len(r.prompt),
                              meta={"weight_version": self.version, "weight_versions": r.out_versions}))

    def _store_prefix(self, r: _Request, cache: Any, mask: torch.Tensor, i: int) -> None:
        """Keep a finished row's KV (its real, right-aligned columns) for its session's next turn."""
        n = int(mask[i].sum())
        ids = r.prompt + r.out_ids[:-1]  # the last sampled token was never fed to the model
        if n != len(ids) or n > self.prefix_cache_tokens:
            return
        real = mask[i].bool()  # a row's real columns (continued rows have a padding gap after their past)
        kv = [(layer.keys[i:i + 1, :, real], layer.values[i:i + 1, :, real]) for layer in _layers(cache)]
        with self._cv:
            self._prefixes[r.session_id] = (ids, kv)
            self._prefix_tokens += n
            while self._prefix_tokens > self.prefix_cache_tokens:
                old_ids, _ = self._prefixes.popitem(last=False)[1]
                self._prefix_tokens -= len(old_ids)

    def _prefill(self, new: list[_Request]):
        """Prefill all arrivals in one forward: each row's cached session prefix (if any) is its past, its new
        tokens the input, both left-padded. Returns the rows, their cache, mask and last-position logits."""
        dev = self._device()
        n = len(new)
        before = [len(r.prefix[0]) if r.prefix is not None else 0 for r in new]
        suffix = [r.prompt[b:] for r, b in zip(new, before)]
        p_len, s_len = max(before), max(map(len, suffix))
        cache = _new_cache()
        mask_past = torch.zeros(n, p_len, dtype=torch.long, device=dev)
        if p_len:
            proto = next(r.prefix[1] for r in new if r.prefix is not None)
            for li, (k0, v0) in enumerate(proto):
                keys = k0.new_zeros(n, k0.shape[1], p_len, k0.shape[3])
                values = v0.new_zeros(n, v0.shape[1], p_len, v0.shape[3])
                for i, r in enumerate(new):
                    if r.prefix is not None:
                        k, v = r.prefix[1][li]
                        keys[i, :, p_len - before[i]:] = k[0]
                        values[i, :, p_len - before[i]:] = v[0]
                layer = _BufLayer()
                layer.set(keys, values)
                cache.layers.append(layer)
            for i, b in enumerate(before):
                mask_past[i, p_len - b:] = 1 if b else 0
        ids = torch.zeros(n, s_len, dtype=torch.long)
        mask_in = torch.zeros(n, s_len, dtype=torch.long)
        pos = torch.zeros(n, s_len, dtype=torch.long)
        for i, (b, suf) in enumerate(zip(before, suffix)):
            ids[i, s_len - len(suf):] = torch.tensor(suf)
            mask_in[i, s_len - len(suf):] = 1
            pos[i, s_len - len(suf):] = torch.arange(b, b + len(suf))
        mask = torch.cat([mask_past, mask_in.to(dev)], dim=1)
        with self._autocast(dev):
            out = self.model(input_ids=ids.to(dev), attention_mask=mask, position_ids=pos.to(dev),
                             **cache_kwargs(self.model, cache), use_cache=True, logits_to_keep=1)
        for r in new:
            r.prefix = None
        self.stats.prefill_calls += 1
        self.stats.prefill_tokens += sum(map(len, suffix))
        self.stats.reused_prefix_tokens += sum(before)
        return new, cache, mask, out.logits[:, -1].float()  # the model filled ``cache`` in place

    def _decode(self, rows: list[_Request | None], cache: Any, mask: torch.Tensor):
        dev = mask.device
        ids = torch.tensor([[r.out_ids[-1] if r is not None else 0] for r in rows], device=dev)  # holes: any id
        pos = mask.sum(-1, keepdim=True)  # each row's next position = its number of real tokens
        mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype, device=dev)], dim=1)
        with self._autocast(dev):
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos,
                             **cache_kwargs(self.model, cache), use_cache=True)
        self.stats.decode_steps += 1
        return out.logits[:, -1].float(), mask

    def _sample(self, rows: list[_Request], logits: torch.Tensor) -> None:
        toks, lps = sample_rows(logits, [r.sampling for r in rows], [r.rng for r in rows])
        for r, t, lp in zip(rows, toks, lps):
            if r.cancelled:
                continue
            r.out_ids.append(t)
            r.out_logprobs.append(lp)
            r.out_versions.append(self.version)
            self.stats.generated_tokens += 1
            if t in r.stop:
                r.finish = "stop"
            elif len(r.out_ids) >= r.max_new:
                r.finish = "length"

    def _autocast(self, dev: torch.device) -> Any:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(dev.type, dtype=self.autocast_dtype)

    def _device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:  # pragma: no cover - a model without parameters
            return torch.device("cpu")


# ---------------------------------------------------------------------- batch cache surgery
class _BufLayer(DynamicLayer):
    """A KV cache layer whose ``keys``/``values`` are views of buffers with spare columns.

    ``DynamicLayer`` concatenates on every decode step (copying the whole cache each token); this one writes
    the new column in place and only reallocates when the spare room runs out (amortised O(1) per token).
    """

    def set(self, keys: torch.Tensor, values: torch.Tensor, spare: int = 64) -> None:
        b, h, n, d = keys.shape
        self.dtype, self.device = keys.dtype, keys.device
        self._k = keys.new_empty(b, h, n + spare, d)
        self._v = values.new_empty(values.shape[0], values.shape[1], n + spare, values.shape[3])
        self._k[:, :, :n] = keys
        self._v[:, :, :n] = values
        self._n = n
        self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.set(key_states, value_states)
            return self.keys, self.values
        m = key_states.shape[-2]
        if self._n + m > self._k.shape[-2]:
            self.set(self.keys, self.values, spare=max(64, self._n // 2) + m)
        self._k[:, :, self._n:self._n + m] = key_states
        self._v[:, :, self._n:self._n + m] = value_states
        self._n += m
        self.keys, self.values = self._k[:, :, :self._n], self._v[:, :, :self._n]
        return self.keys, self.values


def _new_cache() -> Any:
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.layer_class_to_replicate = _BufLayer
    return cache


def _layers(cache: Any) -> list[Any]:
    return list(cache.layers)


def _merge(cache_a: Any, mask_a: torch.Tensor, cache_b: Any, mask_b: torch.Tensor):
    """Stack two left-padded batches (caches and masks) into one, padding the shorter on the left."""
    ta, tb = mask_a.shape[1], mask_b.shape[1]
    t = max(ta, tb)
    for la, lb in zip(_layers(cache_a), _layers(cache_b)):
        la.set(torch.cat([F.pad(la.keys, (0, 0, t - ta, 0)), F.pad(lb.keys, (0, 0, t - tb, 0))], dim=0),
               torch.cat([F.pad(la.values, (0, 0, t - ta, 0)), F.pad(lb.values, (0, 0, t - tb, 0))], dim=0))
    mask = torch.cat([F.pad(mask_a, (t - ta, 0)), F.pad(mask_b, (t - tb, 0))], dim=0)
    return cache_a, mask


def _live(rows: list[Any]) -> int:
    return sum(r is not None for r in rows)


def _place(new: list[_Request], new_cache: Any, new_mask: Any, rows: list[_Request | None], cache: Any,
           mask: Any) -> tuple[Any, Any, list[_Request | None], bool]:
    """Put prefilled arrivals into the running batch: into holes in place (right-aligned, the rest of the row
    masked) when they all fit in its columns, else by stacking the two batches. The flag: placed in holes."""
    if not new:
        return cache, mask, rows, False
    if not rows:
        return new_cache, new_mask, list(new), False
    holes = [i for i, r in enumerate(rows) if r is None]
    t, tn = mask.shape[1], new_mask.shape[1]
    if len(holes) < len(new) or tn > t:
        cache, mask = _merge(cache, mask, new_cache, new_mask)
        return cache, mask, rows + list(new), False
    dst = torch.tensor(holes[:len(new)], device=mask.device)
    for la, lb in zip(_layers(cache), _layers(new_cache)):
        la.keys[dst, :, t - tn:] = lb.keys
        la.values[dst, :, t - tn:] = lb.values
    mask[dst] = 0
    mask[dst, t - tn:] = new_mask
    rows = list(rows)
    for i, r in zip(holes, new):
        rows[i] = r
    return cache, mask, rows, True


def _select(cache: Any, mask: torch.Tensor, keep: list[int]):
    """Keep rows ``keep`` and drop the leading columns that are padding in every remaining row."""
    idx = torch.tensor(keep, device=mask.device)
    mask = mask.index_select(0, idx)
    start = int((mask.sum(0) > 0).nonzero()[0]) if mask.numel() else 0
    mask = mask[:, start:]
    for layer in _layers(cache):
        layer.set(layer.keys.index_select(0, idx)[:, :, start:], layer.values.index_select(0, idx)[:, :, start:])
    return cache, mask


# ---------------------------------------------------------------------- sampling
def sample_rows(logits: torch.Tensor, params: list[SamplingParams],
                rngs: list[np.random.Generator]) -> tuple[list[int], list[float]]:
    """Sample one token per row with its own temperature/top-p/top-k and random stream.

    Inverse-CDF sampling with one uniform draw per row from ``rngs[i]``, so a row's token depends only on
    its logits and its stream. Returns the tokens and their log-probs under ``softmax(logits / T)`` (plain
    logits for greedy rows).
    """
    b, v = logits.shape
    dev = logits.device
    temps = torch.tensor([p.temperature if p.temperature > 0 else 1.0 for p in params], device=dev)
    logp = torch.log_softmax(logits / temps[:, None], dim=-1)
    greedy = [p.temperature == 0 for p in params]
    u = torch.tensor([0.0 if g else rng.random() for g, rng in zip(greedy, rngs)], device=dev,
                     dtype=torch.float64)
    truncate = any(p.top_k > 0 or p.top_p < 1 for p in params)
    if truncate:
        sorted_logp, order = logp.sort(dim=-1, descending=True)
        probs = sorted_logp.double().exp()
        ks = torch.tensor([p.top_k if 0 < p.top_k < v else v for p in params], device=dev)
        keep = torch.arange(v, device=dev)[None, :] < ks[:, None]
        tps = torch.tensor([p.top_p for p in params], device=dev, dtype=torch.float64)
        keep &= (probs.cumsum(-1) - probs) < tps[:, None]  # the top token is always kept
        cdf = (probs * keep).cumsum(-1)
    else:
        order = None
        cdf = logp.double().exp().cumsum(-1)
    pos = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp(max=v - 1).squeeze(1)
    tokens = order.gather(1, pos[:, None]).squeeze(1) if order is not None else pos
    argmax = logits.argmax(-1)
    g = torch.tensor(greedy, device=dev)
    tokens = torch.where(g, argmax, tokens)
    lp = logp.gather(1, tokens[:, None]).squeeze(1)
    return tokens.tolist(), lp.tolist()
