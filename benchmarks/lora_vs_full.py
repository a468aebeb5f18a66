"""LoRA vs full fine-tuning: learner step time and memory on the same batch, side by side in one run.

Each mode runs in its own process (so peak RSS is its own) on the same model, batch and seed: ``full`` (AdamW
over every weight) and ``lora`` (``model.lora.*``: AdamW over the adapters only, base frozen). Reports the
median learner step (GRPO, after one warm-up step), the trainable parameters, the optimizer state and
gradients held after a step, the process's peak RSS and its growth from just before the first step; then
the ratios LoRA / full.

    python benchmarks/lora_vs_full.py [--model tiny|smollm2|<dir>] [--steps 4] [--rank 16] [--groups 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> dict:
    """One mode's measurements (run in a fresh process)."""
    import torch
    from conftest import _CORPUS
    from learner_utils import make_group

    from agentrl.chat import ChatFormat
    from agentrl.config.schema import AlgoConfig, LoraConfig, TinyModelConfig
    from agentrl.learner import Learner
    from agentrl.lora import apply_lora
    from policies.base import Policy

    torch.set_num_threads(args.threads)
    if args.model == "tiny":
        from agentrl.bpe import train_bpe_tokenizer
        from agentrl.models import tiny_qwen3

        tok = train_bpe_tokenizer(_CORPUS * 20, vocab_size=600)
        fmt = ChatFormat(tok, chat_template="tiny")
        t = TinyModelConfig()  # the embedded default model's shape
        model = tiny_qwen3(t.vocab_size, hidden_size=t.hidden_size, num_layers=t.num_layers,
                           num_heads=t.num_heads, num_kv_heads=t.num_kv_heads,
                           intermediate_size=t.intermediate_size)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agentrl.pretrained import is_pretrained_spec, resolve_pretrained

        path = (resolve_pretrained(args.model, os.path.expanduser("~/.cache/agentrl"))
                if is_pretrained_spec(args.model) else args.model)
        tok = AutoTokenizer.from_pretrained(path)
        fmt = ChatFormat(tok)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    policy = Policy()
    if args.mode == "lora":
        model = apply_lora(model, LoraConfig(enabled=True, rank=args.rank, alpha=2.0 * args.rank))
    vocab = model.config.vocab_size
    batch = [make_group(fmt, policy, f"task-{i}", [float((i + j) % 2) for j in range(args.group_size)], seed=i,
                        turns=args.turns, gen_len=args.gen_len, vocab=min(vocab, len(tok)))
             for i in range(args.groups)]
    learner = Learner(model, fmt, policy, AlgoConfig(name="grpo", lr=1e-5))
    rss0 = _rss_mib()
    times = []
    for _ in range(args.steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        learner.step(batch)
        times.append(time.perf_counter() - t0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt_bytes = sum(v.numel() * v.element_size() for s in learner.optimizer.state.values()
                    for v in s.values() if torch.is_tensor(v))
    return {"step_s": statistics.median(times[1:]), "trainable": sum(p.numel() for p in trainable),
            "params": sum(p.numel() for p in model.parameters()),
            "opt_mib": opt_bytes / 2**20, "grad_mib": sum(p.numel() * p.element_size() for p in trainable) / 2**20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_growth_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0,
            "tokens": sum(len(x.token_ids) for g in batch for x in g)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny (the embedded model's shape), smollm2, or a directory")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--turns", type=int, default=2)
    p.add_argument("--gen-len", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", choices=["full", "lora"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        print(json.dumps(child(args)))
        return
    res = {}
    for mode in ("full", "lora"):
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--mode", mode], check=True,
                             capture_output=True, text=True).stdout
        res[mode] = json.loads(out.strip().splitlines()[-1])
    f, lo = res["full"], res["lora"]
    print(f"model {args.model}: {f['params'] / 1e6:.2f}M parameters; batch {args.groups}x{args.group_size} rollouts, "
          f"{f['tokens']} tokens; GRPO; LoRA rank {args.rank} on all linear layers; {args.threads} thread(s); "
          f"median of {args.steps} steps")
    rows = [("learner step (s)", "step_s", "{:.3f}"), ("trainable parameters", "trainable", "{:,}"),
            ("optimizer state (MiB)", "opt_mib", "{:.2f}"), ("gradients (MiB)", "grad_mib", "{:.2f}"),
            ("peak RSS (MiB)", "peak_rss_mib", "{:.0f}"), ("RSS growth in training (MiB)", "rss_growth_mib", "{:.1f}")]
    print(f"{'':30s} {'full':>12s} {'lora':>12s} {'lora/full':>10s}")
    for name, key, fmt in rows:
        ratio = lo[key] / f[key] if f[key] else float("nan")
        print(f"{name:30s} {fmt.format(f[key]):>12s} {fmt.format(lo[key]):>12s} {ratio:>10.3f}")


if __name__ == "__main__":
    main()
