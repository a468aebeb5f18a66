"""Shared command-line handling of ``python -m agentrl.run`` / ``agentrl.eval``: overrides, errors, flags."""

from __future__ import annotations

import sys
from collections.abc import Callable

from agentrl.config import Config, ConfigError, load_config, to_yaml
from agentrl.registry import UnknownEnvError

USAGE = """usage: python -m agentrl.run [--print-config] [group=option ...] [dotted.key=value ...]

Train an agent with RL; writes a run directory (config.yaml, metrics.jsonl, checkpoints/).

  group options:   env=<name> algo=<grpo|dapo|sc_grpo> model=<tiny|hf|path|hub id> rollout=<local|sglang|vllm>
  values:          trainer.steps=10 algo.lr=1e-5 rollout.urls=[http://127.0.0.1:30000] run_name=my-run
  --print-config   print the resolved config and exit without running
  -h, --help       show this help

examples:
  python -m agentrl.run env=math_warmup algo=sc_grpo trainer.steps=100
  python -m agentrl.run --print-config algo=dapo
  python -m agentrl.run run_name=my-run trainer.resume=true
"""


def main(prog: str, job: Callable[[Config], int | None], argv: list[str] | None = None,
         usage: str = USAGE) -> int:
    """Parse ``argv``, validate the config, then run ``job(cfg)``; config errors exit 2 with a message.

    ``usage`` is what ``-h``/``--help`` prints (each command passes its own)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(usage, end="")
        return 0
    print_only = "--print-config" in argv
    argv = [a for a in argv if a != "--print-config"]
    unknown_flags = [a for a in argv if a.startswith("-")]
    if unknown_flags:
        print(f"error: unknown flag(s) {unknown_flags}; accepted: --print-config, --help", file=sys.stderr)
        return 2
    try:
        cfg = load_config(argv)
    except (ConfigError, UnknownEnvError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if print_only:
        print(to_yaml(cfg), end="")
        return 0
    try:
        return int(job(cfg) or 0)
    except (ConfigError, UnknownEnvError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
