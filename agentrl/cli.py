"""Shared command-line handling of ``python -m agentrl.run`` / ``agentrl.eval``: overrides, errors, flags.

Errors that are the user's to fix (a bad config value, a missing file, a server that does not answer, a run
directory in use) print one line and exit 2 (3 for a server that died mid-run is the trainer's own code);
``--debug`` or ``AGENTRL_DEBUG=1`` shows their traceback too.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from agentrl.config import Config, ConfigError, load_config, to_yaml
from agentrl.errors import UserError
from agentrl.registry import UnknownEnvError

USAGE = """usage: python -m agentrl.run [--print-config] [--debug] [group=option ...] [dotted.key=value ...]

Train an agent with RL; writes a run directory (config.yaml, metrics.jsonl, checkpoints/).

  group options:   env=<name> algo=<grpo|dapo|sc_grpo> model=<tiny|hf|path|hub id> rollout=<local|sglang|vllm>
  values:          trainer.steps=10 algo.lr=1e-5 rollout.urls=[http://127.0.0.1:30000] run_name=my-run
  --print-config   print the resolved config and exit without running
  --debug          show the traceback of errors that are normally one line (also: AGENTRL_DEBUG=1)
  -h, --help       show this help

examples:
  python -m agentrl.run env=math_warmup algo=sc_grpo trainer.steps=100
  python -m agentrl.run --print-config algo=dapo
  python -m agentrl.run run_name=my-run trainer.resume=true
"""

#: what is reported as one line: the user's to fix, not a bug in agentrl
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, UnknownEnvError, UserError, FileNotFoundError,
                                                NotADirectoryError, FileExistsError)


def debug_enabled(argv: list[str]) -> bool:
    """``--debug`` on the command line or ``AGENTRL_DEBUG`` set to something other than ``0``/empty."""
    return "--debug" in argv or os.environ.get("AGENTRL_DEBUG", "") not in ("", "0")


def main(prog: str, job: Callable[[Config], int | None], argv: list[str] | None = None,
         usage: str = USAGE, load: Callable[[list[str]], Config] = load_config) -> int:
    """Parse ``argv``, validate the config, then run ``job(cfg)``; user errors exit 2 with a one-line message.

    ``usage`` is what ``-h``/``--help`` prints (each command passes its own); ``load`` turns the overrides into
    the config (``agentrl.eval`` starts from a run's own ``config.yaml``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(usage, end="")
        return 0
    print_only = "--print-config" in argv
    debug = debug_enabled(argv)
    argv = [a for a in argv if a not in ("--print-config", "--debug")]
    unknown_flags = [a for a in argv if a.startswith("-")]
    if unknown_flags:
        print(f"error: unknown flag(s) {unknown_flags}; accepted: --print-config, --debug, --help", file=sys.stderr)
        return 2
    try:
        cfg = load(argv)
    except (ConfigError, UnknownEnvError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except USER_ERRORS as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    if print_only:
        print(to_yaml(cfg), end="")
        return 0
    try:
        return int(job(cfg) or 0)
    except USER_ERRORS as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on one line to stderr and exit 2 (a user error of a server command)."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(2)


def parse_key_values(argv: list[str], allowed: set[str], usage: str) -> dict[str, str]:
    """``key=value`` arguments of a server command (``--key=value`` and dashes also accepted); ``-h``/``--help``
    prints ``usage`` and exits 0; anything else exits 2 with a one-line error naming the bad argument (and the
    closest accepted key, as ``agentrl.run`` does)."""
    if any(a in ("-h", "--help") for a in argv):
        print(usage, end="")
        raise SystemExit(0)
    out: dict[str, str] = {}
    for a in argv:
        k, eq, v = a.partition("=")
        k = k.lstrip("-").replace("-", "_")
        if not eq or k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}=? " if close else ""
            fail(f"bad argument {a!r}; {hint}use key=value with key in {sorted(allowed)} (see --help)")
        out[k] = v
    return out


def one_line(e: BaseException) -> str:
    """An exception's message on one line (a KeyError's without the quotes str() adds)."""
    text = str(e).strip() or type(e).__name__
    if isinstance(e, KeyError) and e.args:  # UnknownEnvError is a KeyError: str() would add quotes
        text = str(e.args[0])
    return " ".join(text.split())


_one_line = one_line  # the name it had before
