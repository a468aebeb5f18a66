"""The embedded default model (``model.path=tiny``): built offline, warm-started, cached on disk.

Three steps, all local:

1. a byte-level BPE tokenizer trained on the env's own text (observations, oracle actions, system prompt),
   with agentrl's ``tiny`` chat template;
2. a randomly initialised Qwen3-architecture causal LM of about a million parameters (the defaults);
3. optionally (``copy_steps``), a short phase on synthetic copy sequences -- random tokens repeated -- that
   stands in for the pre-training a real LLM has had: it forms induction heads, the mechanism that copies
   from the context (a query, an option value), which demonstrations alone do not teach in the time allowed;
4. a short supervised pass on the env's ``oracle_action()`` demonstrations, rendered by the policy exactly as
   rollouts are (same chat format, same token deltas), with a share ``sft_noise`` of demonstration turns made
   imperfect on purpose so that RL has room to improve;
5. optionally (``sft_reference``), the same demonstrations in the *self-teacher's* format -- a system prompt
   holding the guide and a rendered trajectory of the same task, exactly as SC-GRPO's teacher sees it -- so the
   model learns to read a hint in its context, as a pretrained LLM already can: under the verified guide the
   reference is a clean demonstration and the reply follows it; under the unverified guide (the solve-none
   reference) it is an imperfect one, shown with the env's real verdict, and the reply is the clean one.
   Without this, conditioning on τ scrambles the model's distribution and D is large on every token.

The result is saved in standard transformers format (safetensors + tokenizer files) under
``<cache_dir>/tiny/<env>-<hash>/``, so SGLang or vLLM could serve it, and reused on the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import torch

from agentrl.chat import ChatFormat, builtin_template
from agentrl.config.schema import Config
from agentrl.trajectory import Trajectory

TINY_VERSION = 4  # bump when the recipe changes so stale caches are rebuilt


def _teacher_format(cfg: Config) -> dict[str, Any] | None:
    """What shapes the teacher-format examples (guides, τ rendering), or ``None`` when there are none."""
    if not cfg.model.tiny.sft_reference:
        return None
    sc = cfg.algo.sc
    return {k: getattr(sc, k) if k in sc.model_fields_set else None
            for k in ("guide", "guide_unverified")} | {"tau_render": sc.tau_render,
                                                       "tau_max_tokens": sc.tau_max_tokens}


def warm_start_seed(cfg: Config) -> int:
    """The seed of the tiny model's build: ``model.tiny.seed``, else the run's ``seed`` (so RL seeds can share
    one fixed warm start)."""
    return cfg.model.tiny.seed if cfg.model.tiny.seed is not None else cfg.seed


def tiny_model_dir(cfg: Config) -> Path:
    """Where the tiny model for ``cfg`` is (or will be) cached: a hash of everything that shapes it."""
    # what only informs the run (a notice, the unlearnable guard) does not shape the model
    env = cfg.env.model_dump(mode="json", exclude={"notice", "recipe", "tiny_unlearnable"})
    # the build seed enters once, as warm_start_seed: model.tiny.seed=0 and a plain seed=0 build the same model
    tiny = cfg.model.tiny.model_dump(mode="json", exclude={"allow_unlearnable", "seed"})
    key = json.dumps({"v": TINY_VERSION, "env": env, "tiny": tiny, "seed": warm_start_seed(cfg),
                      "teacher": _teacher_format(cfg)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(cfg.model.cache_dir).expanduser() / "tiny" / f"{cfg.env.id}-{digest}"


def _perturb(action: str, rng: random.Random) -> str:
    """An imperfect version of an expert action: change a digit, else drop a word, else keep it."""
    digits = [i for i, c in enumerate(action) if c.isdigit()]
    if digits:
        i = rng.choice(digits)
        return action[:i] + rng.choice([d for d in "0123456789" if d != action[i]]) + action[i + 1:]
    words = re.findall(r"\w+", action)
    if len(words) > 1:
        return action.replace(rng.choice(words), "", 1)
    return action


def oracle_demonstrations(env: Any, policy: Any, task_ids: list[str], noise: float, seed: int,
                          max_turns: int | None = None, final: list | None = None) -> list[list[tuple[str, str]]]:
    """Per episode, the list of (observation message, reply) pairs of an oracle run with ``noise`` (at most
    ``max_turns`` of them).

    A perturbed turn's reply is what the demo shows; the env then answers that (possibly wrong) action, so
    demonstrations stay consistent episodes. ``final``, if given, receives per episode the env's answer to the
    last reply and whether the episode succeeded.
    """
    rng = random.Random(seed)
    episodes = []
    for task in task_ids:
        obs, _ = env.reset(seed=seed, options={"task_id": task})
        turns = []
        while not env.done and (max_turns is None or len(turns) < max_turns):
            action = env.oracle_action()
            if action is None:
                break
            if rng.random() < noise:
                action = _perturb(action, rng)
            reply = policy.format_action(action) if hasattr(policy, "format_action") else action
            turns.append((obs, reply))
            obs, _, _, _, info = env.step(policy.parse_action(reply))
        episodes.append(turns)
        if final is not None:
            final.append((obs, bool(env.done and info.get("success", False)) if turns else False))
    return episodes


def build_tiny(cfg: Config, *, log=print) -> Path:
    """Build (or reuse) the tiny model for ``cfg``'s env; returns its directory."""
    out = tiny_model_dir(cfg)
    if (out / "config.json").exists() and (out / "tokenizer_config.json").exists():
        return out
    from agentrl.bpe import train_bpe_tokenizer
    from agentrl.models import tiny_qwen3
    from agentrl.registry import make
    from policies import make as make_policy

    from agentrl.threads import apply_threads

    apply_threads(cfg.trainer.threads)  # threads that fit the machine (a run has chosen them already: the same)
    t, seed = cfg.model.tiny, warm_start_seed(cfg)
    env = make(cfg.env.id, **cfg.env.kwargs)
    policy = make_policy(cfg.env.policy, env=env, **cfg.env.policy_kwargs)
    all_tasks = list(env.task_ids(cfg.env.train_split))
    random.Random(seed).shuffle(all_tasks)
    tasks = all_tasks[: t.sft_episodes]
    log(f"building the tiny model for env={cfg.env.id}: {len(tasks)} oracle episodes, noise {t.sft_noise}")
    clean = oracle_demonstrations(env, policy, tasks, 0.0, seed)
    noisy = oracle_demonstrations(env, policy, tasks, t.sft_noise, seed + 1)

    corpus = [policy.system()] + [m for ep in clean for pair in ep for m in pair]
    tok = train_bpe_tokenizer(corpus * 2, vocab_size=t.vocab_size, chat_template=builtin_template("tiny"),
                              eos_token="<|end|>")
    fmt = ChatFormat(tok, name="tiny")
    model = tiny_qwen3(len(tok), hidden_size=t.hidden_size, num_layers=t.num_layers, num_heads=t.num_heads,
                       num_kv_heads=t.num_kv_heads, intermediate_size=t.intermediate_size,
                       max_position_embeddings=t.max_position_embeddings, seed=seed,
                       eos_token_id=fmt.stop_token_ids[0], pad_token_id=tok.pad_token_id,
                       bos_token_id=tok.bos_token_id)
    if t.copy_steps:
        _copy_phase(cfg, model, range(max(tok.all_special_ids) + 1, len(tok)), log=log)
    examples = demonstration_examples(fmt, policy, noisy, turn_windows=t.sft_turn_windows, seed=seed)
    if t.sft_reference:
        examples += reference_examples(env, policy, fmt, tasks[: round(t.sft_reference * len(tasks))],
                                       cfg=cfg, seed=seed + 3)
    if t.sft_first_turns:
        leading = oracle_demonstrations(env, policy, all_tasks, t.sft_noise, seed + 2,
                                        max_turns=t.sft_leading_turns)
        examples += [_render_episode(fmt, policy, [turn]) for ep in leading for turn in ep] * t.sft_first_turns
    _supervised(model, examples, epochs=t.sft_epochs, seed=seed, log=log, lr=t.sft_lr,
                batch_tokens=t.sft_batch_tokens, observation_weight=t.sft_observation_weight,
                schedule=t.sft_lr_schedule)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = fmt.stop_token_ids
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "agentrl_tiny.json").write_text(json.dumps({"env": cfg.env.id, "episodes": len(noisy),
                                                       "examples": len(examples), "noise": t.sft_noise,
                                                       "version": TINY_VERSION}))
    log(f"tiny model saved to {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)")
    return out


def copy_phase_path(cfg: Config, vocab: range) -> Path:
    """Where the copy phase's result for ``cfg`` is cached: a hash of the vocabulary, shape, seed and copy keys."""
    shape = {k: v for k, v in cfg.model.tiny.model_dump(mode="json").items()
             if not k.startswith("sft_") and k not in ("seed", "allow_unlearnable")}
    key = json.dumps({"v": TINY_VERSION, "vocab": [vocab.start, vocab.stop], "shape": shape,
                      "seed": warm_start_seed(cfg)}, sort_keys=True)
    return (Path(cfg.model.cache_dir).expanduser() / "tiny" / "copy-phase"
            / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt")


def _copy_phase(cfg: Config, model: Any, vocab: range, *, log=print) -> None:
    """Run :func:`copy_pretrain` on ``model``, or load its result from the cache: the copy phase depends only
    on the vocabulary's size, the model's shape, the seed and the copy settings (not on the env's text), so a
    rebuild that changes only the warm start's demonstrations skips it (~6 min on 2 CPU cores)."""
    t, seed = cfg.model.tiny, warm_start_seed(cfg)
    path = copy_phase_path(cfg, vocab)
    if path.exists():
        log(f"  copy phase: cached ({path})")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return
    log(f"  copy phase: {t.copy_steps} steps of synthetic copy sequences")
    copy_pretrain(model, vocab, steps=t.copy_steps, lr=t.copy_lr, seed=seed, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)


def copy_sequences(vocab: range, rows: int, length: int, gen: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of synthetic copy rows ``(ids [rows, length], weight [rows, length])``.

    Each row packs segments ``a f a``: ``a`` is 5-40 random tokens from ``vocab``, ``f`` 0-30 random filler
    tokens. Only the repeat of ``a`` (from its second token on) has weight 1: it is predictable only by finding
    the earlier occurrence and copying what followed it.
    """
    def randint(lo: int, hi: int, n: int = 1) -> list[int]:
        return torch.randint(lo, hi, (n,), generator=gen).tolist()

    ids, weight = torch.zeros(rows, length, dtype=torch.long), torch.zeros(rows, length)
    for r in range(rows):
        seq: list[int] = []
        wt: list[float] = []
        while len(seq) < length:
            k, m = randint(5, 41)[0], randint(0, 31)[0]
            a = [vocab[i] for i in randint(0, len(vocab), k)]
            f = [vocab[i] for i in randint(0, len(vocab), m)] if m else []
            seq += a + f + a
            wt += [0.0] * (k + m + 1) + [1.0] * (k - 1)
        ids[r], weight[r] = torch.tensor(seq[:length]), torch.tensor(wt[:length])
    return ids, weight


def copy_pretrain(model: Any, vocab: range, *, steps: int, lr: float = 1e-3, seed: int = 0, rows: int = 16,
                  length: int = 256, log=print) -> list[float]:
    """Train ``model`` on :func:`copy_sequences` for ``steps`` AdamW steps (linear warm-up over 50); returns the
    per-step copy loss. On the default tiny shape the loss sits near ln(V) for ~500 steps, then drops within
    ~100 steps as induction heads form (measured: 7.1 at step 500, 3.8 at step 600)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 50))
    model.train()
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        ids, weight = copy_sequences(vocab, rows, length, gen)
        losses.append(_train_step(model, opt, sched, ids, weight))
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"  copy phase: step {step + 1}/{steps}, loss {sum(losses[-100:]) / len(losses[-100:]):.3f}"
                f"{_eta(t0, step + 1, steps)}")
    model.eval()
    return losses


def demonstration_examples(fmt: ChatFormat, policy: Any, episodes: list[list[tuple[str, str]]], *,
                           turn_windows: float = 0.0, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Warm-start examples ``(token ids, loss mask)``: every episode whole, plus a share ``turn_windows`` of the
    later turns (turn 2 onwards) each on its own -- system prompt, that observation as the first message, the
    reply. A window is a few hundred tokens instead of a whole episode's thousand, so the model sees many more
    pages per second of training."""
    if not 0.0 <= turn_windows <= 1.0:
        raise ValueError(f"turn_windows must be a share in [0, 1], got {turn_windows!r}")
    examples = [_render_episode(fmt, policy, ep) for ep in episodes if ep]
    windows = [turn for ep in episodes for turn in ep[1:]]
    random.Random(seed).shuffle(windows)
    examples += [_render_episode(fmt, policy, [w]) for w in windows[: round(turn_windows * len(windows))]]
    return examples


def reference_examples(env: Any, policy: Any, fmt: ChatFormat, task_ids: list[str], *, cfg: Config, seed: int
                       ) -> list[tuple[list[int], list[int]]]:
    """Warm-start examples in the self-teacher's format, two per task (see the module docstring, step 5).

    The system prompt is built exactly as the learner builds the teacher's (:class:`TeacherPrompt`: the
    policy's guides, or ``algo.sc.guide*`` when set, and τ rendered and cut by ``algo.sc.tau_*``); the task
    and the replies follow as in a rollout.
    """
    from agentrl.learner.reference import TeacherPrompt, teacher_policy

    sc = cfg.algo.sc
    prompt = TeacherPrompt(fmt, teacher_policy(policy, sc), sc.tau_render, sc.tau_max_tokens)
    clean_final: list = []
    noisy_final: list = []
    clean = oracle_demonstrations(env, policy, task_ids, 0.0, seed, final=clean_final)
    noisy = oracle_demonstrations(env, policy, task_ids, 1.0, seed + 1, final=noisy_final)  # o_r: wrong
    examples = []
    for c, (c_obs, _), n, (n_obs, _) in zip(clean, clean_final, noisy, noisy_final):
        if not c:
            continue
        for ref, ref_obs, verified in ((c, c_obs, True), (n, n_obs, False)):
            reference = _demo_trajectory(fmt, policy, ref, ref_obs)
            examples.append(_render_episode(fmt, policy, c, system_ids=prompt.system_ids(reference, verified)))
    return examples


def _demo_trajectory(fmt: ChatFormat, policy: Any, turns: list[tuple[str, str]], final_obs: str | None = None, *,
                     finished: bool = True) -> Trajectory:
    """A demonstration built exactly like a rollout trajectory: replies as generated tokens (with their parsed
    actions), each later observation as a chat delta and recorded on the turn before it. A single later turn
    given alone becomes the first message, with the system prompt. ``finished`` records ``final_obs`` on the
    last turn and closes it, as a finished rollout is (a reference τ)."""
    traj: Trajectory | None = None
    for i, (obs, reply) in enumerate(turns):
        role, content = policy.message(obs, i)
        if traj is None:
            traj = Trajectory.start(fmt, "demo", content, system=policy.system())
        else:
            traj.turns[-1].observation = obs
            traj.add_message(fmt, content, role)
        ids = fmt.encode(reply) + fmt.stop_token_ids[:1]
        traj.add_generation(ids, [0.0] * len(ids), text=reply).action = policy.parse_action(reply)
    assert traj is not None
    if finished:
        traj.turns[-1].observation = final_obs
        traj.close_turn(fmt)
    return traj


def _render_episode(fmt: ChatFormat, policy: Any, turns: list[tuple[str, str]], *,
                    system_ids: list[int] | None = None) -> tuple[list[int], list[int]]:
    """Token ids and loss mask of one demonstration (:func:`_demo_trajectory`, its last turn left open).
    ``system_ids`` replaces the rendered system prompt (a teacher's, with a reference), as the learner swaps
    it."""
    traj = _demo_trajectory(fmt, policy, turns, finished=False)
    if system_ids is not None:
        return (system_ids + traj.token_ids[traj.system_len:],
                [0] * len(system_ids) + traj.loss_mask[traj.system_len:])
    return traj.token_ids, traj.loss_mask


def _supervised(model: Any, examples: list[tuple[list[int], list[int]]], *, epochs: int, seed: int,
                log=print, lr: float = 3e-3, batch_tokens: int = 1024, observation_weight: float = 0.0,
                schedule: str = "constant", warmup: float = 0.05) -> None:
    """Next-token training: agent tokens weigh 1, every other token ``observation_weight`` (0 = agent only).

    A little language modelling on the env's own text (the observations) is the tiny model's stand-in for
    pre-training: observations repeat the task (WebShop shows the instruction on every page), which teaches the
    model to copy from its context. AdamW at a constant ``lr``, or (``schedule="cosine"``) a linear warm-up
    over ``warmup`` of the steps, then cosine decay to 0 (see :func:`lr_factor`).
    """
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    epoch_batches = [_length_batches(examples, batch_tokens, torch.randperm(len(examples), generator=g).tolist(),
                                     random.Random(seed + e)) for e in range(epochs)]
    total_steps = sum(len(b) for b in epoch_batches)
    n_warm = max(1, int(warmup * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total_steps, n_warm, schedule))
    model.train()
    t0, done = time.perf_counter(), 0
    for epoch, batches in enumerate(epoch_batches):
        total = 0.0
        for k, b in enumerate(batches):
            L = max(len(examples[i][0]) for i in b)
            ids = torch.zeros(len(b), L, dtype=torch.long)
            weight = torch.zeros(len(b), L)
            attn = torch.zeros(len(b), L, dtype=torch.long)
            for r, i in enumerate(b):
                toks, mask = examples[i]
                ids[r, : len(toks)] = torch.tensor(toks)
                attn[r, : len(toks)] = 1
                m = torch.tensor(mask, dtype=torch.float32)
                weight[r, : len(toks)] = m + observation_weight * (1.0 - m)
            total += _train_step(model, opt, sched, ids, weight, attn)
            done += 1
            if len(batches) >= 200 and (k + 1) % (len(batches) // 4) == 0 and k + 1 < len(batches):
                log(f"  warm-start epoch {epoch + 1}/{epochs}: {k + 1}/{len(batches)}, "
                    f"loss {total / (k + 1):.3f}{_eta(t0, done, total_steps)}")
        log(f"  warm-start epoch {epoch + 1}/{epochs}: loss {total / max(1, len(batches)):.3f}"
            f"{_eta(t0, done, total_steps)}")
    model.eval()


def _eta(t0: float, done: int, total: int) -> str:
    """``" [42s, ~1m10s left]"`` from the time since ``t0`` and the share of steps done."""
    elapsed = time.perf_counter() - t0
    left = elapsed / max(done, 1) * (total - done)
    return f" [{_secs(elapsed)}" + (f", ~{_secs(left)} left]" if done < total else "]")


def _secs(s: float) -> str:
    return f"{s:.0f}s" if s < 90 else f"{int(s // 60)}m{int(s % 60):02d}s"


def _train_step(model: Any, opt: torch.optim.Optimizer, sched: Any, ids: torch.Tensor, weight: torch.Tensor,
                attn: torch.Tensor | None = None) -> float:
    """One clipped AdamW step of weighted next-token cross-entropy (``weight[:, t]`` weighs token ``t``, the
    target of position ``t - 1``); returns the loss."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                           ids[:, 1:].reshape(-1), reduction="none")
    w = weight[:, 1:].reshape(-1)
    loss = (ce * w).sum() / w.sum().clamp_min(1.0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """The warm start's learning-rate multiplier at ``step``: 1 (``constant``), or linear warm-up over
    ``warmup_steps`` then cosine decay to 0 at ``total_steps`` (``cosine``)."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown warm-start lr schedule {schedule!r}; accepted: ['constant', 'cosine']")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _length_batches(examples: list[tuple[list[int], list[int]]], batch_tokens: int, order: list[int],
                    rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches of example indices (padded size <= ``batch_tokens``), in shuffled order."""
    batches, cur, cur_len = [], [], 0
    for i in sorted(order, key=lambda i: len(examples[i][0])):
        n = len(examples[i][0])
        if cur and (len(cur) + 1) * max(cur_len, n) > batch_tokens:
            batches.append(cur)
            cur, cur_len = [], 0
        cur.append(i)
        cur_len = max(cur_len, n)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches
