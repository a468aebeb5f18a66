"""Issue 32 item 6: the user mistakes ``agentrl.run`` answers with one line get one line (exit 2) from
``agentrl.eval``, ``agentrl.serve``, the env server and the remote env too; a path-like model argument never
goes to the Hugging Face hub."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentrl.model_path import looks_local

ROOT = Path(__file__).resolve().parents[1]


def _one_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _exit_code(fn, *args) -> int:
    with pytest.raises(SystemExit) as e:
        fn(*args)
    return e.value.code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("path,local", [
    ("/nonexistent", True), ("./m", True), ("../m", True), ("~/m", True), ("runs/my-run", True),
    ("runs/nope/checkpoints/step_0000002", True), ("outputs/x", True), ("Qwen/Qwen3-0.6B", False),
    ("gpt2", False), ("tiny", False),
])
def test_path_like_model_arguments(path, local):
    assert looks_local(path) is local


def test_a_local_directory_prefix_makes_a_path_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodels").mkdir()
    assert looks_local("mymodels/qwen") and not looks_local("someorg/qwen")


def test_eval_of_a_missing_absolute_path_is_one_line_as_a_real_command():
    r = subprocess.run([sys.executable, "-m", "agentrl.eval", "model=/nonexistent"], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 2
    assert "'/nonexistent' does not exist" in _one_line(r.stderr) and "hub is not asked" in r.stderr


def test_eval_of_a_missing_run_dir_is_one_line(tmp_path, monkeypatch, capsys):
    from agentrl.eval import cli

    monkeypatch.chdir(tmp_path)
    assert _exit_code(cli, ["model=runs/my-run", "n=2"]) == 2
    assert "model='runs/my-run' does not exist" in _one_line(capsys.readouterr().err)


def test_run_with_a_missing_run_path_fails_at_once_without_the_hub(tmp_path, monkeypatch, capsys):
    from agentrl.cli import main
    from agentrl.run import train

    monkeypatch.chdir(tmp_path)
    assert main("run", train, ["model=runs/nope", "trainer.steps=1", f"trainer.output_dir={tmp_path / 'out'}"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "'runs/nope' does not exist" in err and "hub is not asked" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_serve_of_a_missing_path_is_one_line(capsys):
    from agentrl.serve import main

    assert _exit_code(main, ["model=/nonexistent"]) == 2
    assert "model='/nonexistent' does not exist" in _one_line(capsys.readouterr().err)


def test_serve_misspelled_key_gets_a_did_you_mean(capsys):
    from agentrl.serve import main

    assert _exit_code(main, ["modle=tiny"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "'modle=tiny'" in err and "did you mean model=?" in err


def test_env_server_unknown_env_is_one_line_with_a_close_match(capsys):
    from agentrl.env_server.serve import main

    assert _exit_code(main, ["env=mathh", f"port={_free_port()}"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "mathh" in err and "'math'" in err


def test_a_remote_env_whose_server_is_down_is_one_line(capsys):
    from agentrl.eval import cli

    port = _free_port()  # nothing listens there
    assert _exit_code(cli, ["env=remote", f"env.kwargs.url=http://127.0.0.1:{port}", "env.kwargs.env_id=guess",
                            "model=tiny", "n=1"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"the env server at http://127.0.0.1:{port} does not answer" in err
    assert "python -m agentrl.env_server.serve env=guess" in err
