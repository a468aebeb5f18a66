"""SC-GRPO learner step time / GRPO learner step time on the same batch (tiny Qwen3 on CPU).

Three learners with identical initial weights take turns on one fixed batch of multi-turn rollouts:
GRPO, SC-GRPO, and SC-GRPO without the shared teacher-prefix KV cache. The batch mixes the routing cases
(most groups with 2 <= n_c < G, one solve-none, one with n_c = 1, one all correct). Medians over rounds.
The paper measured +37-51% for the actor update (SC-GRPO / GRPO = 1.37-1.51). Prints the learner's own
breakdown (teacher pass, solve-none no-gradient pass, update) and the floor: GRPO's step plus one teacher
forward over the teacher's tokens.

The ratios are given on two clocks, min over rounds: wall time, and this process's CPU time (one thread:
the same as wall time on a quiet machine, and unmoved by other processes competing for the cores, which
only stretch the wall time).

    python benchmarks/learner_step_time.py [--rounds 5] [--groups 8] [--group-size 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def forward_seconds_per_token(learner, groups, rounds: int) -> tuple[float, float]:
    """Seconds per token of a no-gradient forward over the batch's rollouts, in micro-batches: (wall, CPU),
    each the min over rounds."""
    import torch

    from agentrl.learner.batching import pack_by_tokens, pad_right

    seqs = [t.token_ids for g in groups for t in g]
    batches = pack_by_tokens([len(s) for s in seqs], learner.cfg.micro_batch_tokens)
    wall, cpu = [], []
    with learner._eval():
        for _ in range(rounds + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            for b in batches:
                learner.scorer(pad_right([seqs[i] for i in b]), torch.zeros(0, dtype=torch.long))
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    n = sum(len(s) for s in seqs)
    return min(wall[1:]) / n, min(cpu[1:]) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--turns", type=int, default=3)
    p.add_argument("--gen-len", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mix", choices=["mixed", "tau-only"], default="mixed",
                   help="tau-only: every group has 2 <= n_c < G, so both learners train the same rollouts")
    p.add_argument("--no-nocache", action="store_true", help="skip the variant without the prefix cache")
    args = p.parse_args()

    import torch
    from conftest import _CORPUS
    from learner_utils import make_group

    from agentrl.bpe import train_bpe_tokenizer
    from agentrl.chat import ChatFormat
    from agentrl.config.schema import AlgoConfig, TinyModelConfig
    from agentrl.learner import Learner
    from agentrl.models import tiny_qwen3
    from policies.base import Policy

    torch.set_num_threads(args.threads)
    tok = train_bpe_tokenizer(_CORPUS * 20, vocab_size=600)
    fmt = ChatFormat(tok, chat_template="tiny")
    policy = Policy()
    t = TinyModelConfig()  # the embedded default model's shape
    model = tiny_qwen3(t.vocab_size, hidden_size=t.hidden_size, num_layers=t.num_layers, num_heads=t.num_heads,
                       num_kv_heads=t.num_kv_heads, intermediate_size=t.intermediate_size, initializer_range=0.1)
    g = args.group_size
    patterns = [[1, 0, 1, 0, 0, 1, 0, 0], [1, 1, 0, 0, 0, 0, 1, 0], [0, 1, 0, 1, 1, 0, 0, 0],
                [1, 0, 0, 1, 0, 1, 1, 0], [1, 1, 1, 0, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0],
                [1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]]
    if args.mix == "tau-only":
        patterns = patterns[:5]
    batch = [make_group(fmt, policy, f"task-{i}", [float(r) for r in (patterns[i % len(patterns)] * g)[:g]],
                        seed=i, turns=args.turns, gen_len=args.gen_len, vocab=t.vocab_size)
             for i in range(args.groups)]
    n_tok = sum(len(x.token_ids) for grp in batch for x in grp)
    n_agent = sum(x.num_agent_tokens for grp in batch for x in grp)
    print(f"batch ({args.mix}): {args.groups} groups x {g} rollouts, {n_tok} tokens ({n_agent} agent tokens); model "
          f"hidden {t.hidden_size}, {t.num_layers} layers, vocab {t.vocab_size}; {args.threads} thread(s)")

    variants = {"grpo": AlgoConfig(name="grpo"), "sc_grpo": AlgoConfig(name="sc_grpo"),
                "sc_grpo_nocache": AlgoConfig(name="sc_grpo", sc={"share_prefix_cache": False})}
    if args.no_nocache:
        del variants["sc_grpo_nocache"]
    learners = {k: Learner(copy.deepcopy(model), fmt, policy, cfg) for k, cfg in variants.items()}
    keys = ("step", "cpu", "teacher", "score", "update")
    times: dict[str, dict[str, list[float]]] = {k: {p: [] for p in keys} for k in variants}
    last = {}
    for r in range(args.rounds + 1):  # round 0 warms up
        for k, learner in learners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            m = learner.step(batch)
            if r:
                times[k]["step"].append(time.perf_counter() - t0)
                times[k]["cpu"].append(time.process_time() - c0)
                for p in keys[2:]:
                    times[k][p].append(m[f"time/{p}_s"])
            last[k] = m
    med = {k: {p: statistics.median(v) for p, v in d.items()} for k, d in times.items()}
    for k in variants:
        print(f"  {k:16s} step {med[k]['step']:.3f} s (min {min(times[k]['step']):.3f}): teacher pass "
              f"{med[k]['teacher']:.3f}, solve-none pass {med[k]['score']:.3f}, update {med[k]['update']:.3f}; "
              f"teacher tokens {last[k]['teacher/tokens']:.0f} ({last[k]['teacher/prefixes']:.0f} prefixes), "
              f"trained tokens {last[k]['tokens/forward']:.0f}")
    routes = {k.split('/')[1]: round(v, 3) for k, v in last["sc_grpo"].items() if k.startswith("route/")}
    print(f"  routing shares: {routes}; D p50/p75/p95 = {last['sc_grpo']['sc/D_p50']:.3f}/"
          f"{last['sc_grpo']['sc/D_p75']:.3f}/{last['sc_grpo']['sc/D_p95']:.3f}")
    g, s = med["grpo"], med["sc_grpo"]
    extra = s["step"] - g["step"]
    print(f"  SC-GRPO extra {extra:.3f} s: teacher pass {s['teacher']:.3f} ({s['teacher'] / extra:.0%}), "
          f"solve-none pass {s['score']:.3f} ({s['score'] / extra:.0%}), update {s['update'] - g['update']:+.3f} "
          f"({(s['update'] - g['update']) / extra:.0%}: the solve-none rollouts GRPO does not train, the teacher "
          f"head and KL)")
    per_token, per_token_cpu = forward_seconds_per_token(learners["grpo"], batch, args.rounds)
    tokens = last["sc_grpo"]["teacher/tokens"]
    t_floor = per_token * tokens
    floor = g["step"] + t_floor
    print(f"FLOOR grpo + one no-gradient forward over the teacher's {tokens:.0f} tokens "
          f"({per_token * 1e6:.1f} us/token in micro-batches of the rollouts): {floor:.3f} s = "
          f"{floor / g['step']:.3f}x grpo; the teacher pass is {s['teacher'] / t_floor:.2f}x that forward, "
          f"sc_grpo {s['step'] / floor:.3f}x the floor (medians)")
    for clock, key, tok in (("wall", "step", per_token), ("cpu", "cpu", per_token_cpu)):
        lo_g, lo_s = min(times["grpo"][key]), min(times["sc_grpo"][key])
        lo_floor = lo_g + tok * tokens
        print(f"RATIO ({clock}, min over rounds) sc_grpo/grpo {lo_s / lo_g:.3f} (aim <= 1.51); "
              f"floor/grpo {lo_floor / lo_g:.3f}; sc_grpo/floor {lo_s / lo_floor:.3f} (aim <= 1.15); "
              f"grpo {lo_g:.3f} s, sc_grpo {lo_s:.3f} s, forward {tok * 1e6:.1f} us/token")
    if args.no_nocache:
        return
    nc = med["sc_grpo_nocache"]["step"]
    print(f"RATIO sc_grpo without prefix cache/grpo: {nc / g['step']:.3f}; prefix cache saves "
          f"{1 - s['step'] / nc:.1%} of the SC-GRPO step, {1 - extra / (nc - g['step']):.1%} of its overhead")


if __name__ == "__main__":
    main()
