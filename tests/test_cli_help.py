"""``--help`` on every command: rc 0, the command's own keys and an example, before any model is loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: command -> words its help must show (its own keys and an example line)
HELP = {
    "agentrl.run": ["usage: python -m agentrl.run", "env=", "algo=", "trainer.steps=", "--print-config",
                    "example", "python -m agentrl.run env="],
    "agentrl.eval": ["usage: python -m agentrl.eval", "model=", "n=", "split=", "tasks=", "run directory",
                     "example", "python -m agentrl.eval env="],
    "agentrl.serve": ["usage: python -m agentrl.serve", "model=", "host=", "port=", "max_batch_size=", "dtype=",
                      "device=", "example", "python -m agentrl.serve model="],
    "agentrl.env_server.serve": ["usage: python -m agentrl.env_server.serve", "env=", "host=", "port=", "workers=",
                           "max_sessions=", "idle_timeout_s=", "kwargs=", "example:",
                           "python -m agentrl.env_server.serve env="],
}


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("module", sorted(HELP))
def test_help_prints_own_keys_and_an_example(module, flag):
    r = subprocess.run([sys.executable, "-m", module, flag], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    for word in HELP[module]:
        assert word in r.stdout, f"{module} {flag}: {word!r} missing from\n{r.stdout}"
    if module == "agentrl.eval":
        assert "trainer.steps" not in r.stdout  # the training usage is not the eval usage


def test_eval_help_mentions_every_shorthand():
    from agentrl.eval import SHORTHANDS, USAGE

    for key, dotted in SHORTHANDS.items():
        assert f"{key}=" in USAGE and dotted in USAGE


@pytest.mark.parametrize("main_path", ["agentrl.serve", "agentrl.env_server.serve"])
def test_server_help_returns_before_loading_anything(main_path, capsys, monkeypatch):
    """``main(["--help"])`` exits 0 without touching a model or an env (their builders would raise here)."""
    import importlib

    mod = importlib.import_module(main_path)

    def boom(*a, **k):
        raise AssertionError("help must not build anything")

    for name in ("LocalBackend", "EnvServer", "GenerateServer"):
        if hasattr(mod, name):
            monkeypatch.setattr(mod, name, boom)
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code in (0, None)
    assert f"python -m {main_path}" in capsys.readouterr().out


@pytest.mark.parametrize("module, bad", [("agentrl.serve", "modle=tiny"), ("agentrl.env_server.serve", "evn=guess")])
def test_server_bad_argument_is_one_line_naming_it(module, bad):
    r = subprocess.run([sys.executable, "-m", module, bad], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode != 0 and bad in r.stderr and "--help" in r.stderr
    assert "Traceback" not in r.stderr
