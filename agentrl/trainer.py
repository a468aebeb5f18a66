"""The training loop: sample tasks → roll out groups → advantages and SC weights → update → sync → log.

Evaluation every ``trainer.eval_every`` steps (and once before the first update, so the warm start's score is
on record), checkpoints every ``trainer.save_every`` steps and at the end, ``trainer.resume=true`` to continue
(from the newest intact checkpoint), Ctrl-C or SIGTERM to save and stop (the resume command is printed). One
trainer per run directory (a lock). Server backends are probed before the first evaluation; a server that
dies mid-run ends the run with the last completed step saved and the resume command printed (exit code 3).
``trainer.max_failed_steps`` consecutive steps in which every rollout failed (an env or policy that always
raises) end the run with the first failure's message (exit code 1). CPU threads and OpenMP's wait policy
fit the machine (:mod:`agentrl.threads`).

``trainer.async.steps_ahead = k > 0`` overlaps generation with learning (:mod:`agentrl.rollout.async_generator`):
the learner trains on batches sampled by weights up to k versions old, with the decoupled off-policy loss
(:mod:`agentrl.learner.offpolicy`); ``k = 0`` is the synchronous loop, unchanged. A crash of the generator
ends the run with the last completed step saved (exit code 1).
"""

from __future__ import annotations

import asyncio
import random
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentrl.rollout.async_generator import GeneratorCrashed
from agentrl.checkpoint import (find_resume_checkpoint, has_checkpoints, rng_state,
                                save_checkpoint, set_rng_state)
from agentrl.components import autocast_dtype, build_components
from agentrl.config.compose import to_yaml
from agentrl.config.schema import Config
from agentrl.errors import ServerUnavailable, UserError
from agentrl.metrics_log import MetricsLog
from agentrl.run_lock import RunLock
from agentrl.trajectory import Trajectory


def resolve_run_dir(cfg: Config) -> Path:
    """``output_dir/run_name``; without a run name: a new timestamped one, or with ``resume`` the newest."""
    root = Path(cfg.trainer.output_dir)
    if cfg.run_name:
        return root / cfg.run_name
    prefix = f"{cfg.env.id}-{cfg.algo.name}-"
    if cfg.trainer.resume:
        runs = sorted((p for p in root.glob(prefix + "*") if has_checkpoints(p)), key=lambda p: p.stat().st_mtime)
        if runs:
            return runs[-1]
    return root / (prefix + time.strftime("%Y%m%d-%H%M%S"))


def group_stats(groups: list[list[Trajectory]]) -> dict[str, float]:
    """Reward, success, failures and token counts of a batch of groups."""
    trajs = [t for g in groups for t in g]
    ok = [t for t in trajs if not t.failed]
    n = max(1, len(ok))
    return {"reward": sum(t.reward for t in ok) / n, "success": sum(t.success for t in ok) / n,
            "trajectories": float(len(trajs)), "failed": float(len(trajs) - len(ok)),
            "agent_tokens": float(sum(t.num_agent_tokens for t in ok)),
            "turns": sum(len(t.turns) for t in ok) / n}


def first_error(groups: list[list[Trajectory]]) -> str | None:
    """The error message of the first failed trajectory of a batch, if any."""
    return next((t.error for g in groups for t in g if t.error), None)


class ServerDied(ServerUnavailable):
    """The inference server stopped answering during a run; ``row`` is a completed step not yet logged."""

    def __init__(self, message: str, row: dict[str, Any] | None = None):
        super().__init__(message)
        self.row = row


def check_learnable(cfg: Config) -> None:
    """Refuse, before any work, to train the tiny model on an env it cannot learn (``env.tiny_unlearnable``)."""
    why = cfg.env.tiny_unlearnable
    if cfg.model.path == "tiny" and why and not cfg.model.tiny.allow_unlearnable:
        raise UserError(f"env={cfg.env.id} with the embedded tiny model: {why} Train a pretrained model instead "
                        "(model=<path or hub id>), or pass model.tiny.allow_unlearnable=true to run the "
                        "pipeline anyway (its reward stays 0)")


def _cli_argv() -> list[str] | None:
    """The overrides of this process's ``python -m agentrl.run`` / ``agentrl-run`` command line, else ``None``."""
    return sys.argv[1:] if Path(sys.argv[0]).name in ("run.py", "agentrl-run") else None


def _resume_args(argv: list[str], run_dir: Path) -> list[str]:
    keep = [a for a in argv if not a.startswith(("trainer.resume=", "run_name=", "trainer.output_dir=", "--"))]
    return [*keep, "trainer.resume=true", f"run_name={run_dir.name}", f"trainer.output_dir={run_dir.parent}"]


def resume_command(run_dir: Path, overrides: list[str] | None = None) -> str:
    """The command that continues this run: the command line it was started with (or ``overrides``), plus
    ``trainer.resume=true``, its run name and output directory."""
    argv = overrides if overrides is not None else (_cli_argv() or [])
    return shlex.join(["python", "-m", "agentrl.run", *_resume_args(argv, run_dir)])


def resume_hint(run_dir: Path, overrides: list[str] | None = None) -> str:
    """How to continue this run, in the caller's terms: the shell command for ``python -m agentrl.run``; for
    ``agentrl.train([...])`` from Python, the same call with the resume overrides added (an env registered in
    the caller's script exists only there)."""
    if _cli_argv() is not None or overrides is None:
        return resume_command(run_dir, overrides)
    return f"agentrl.train({_resume_args(overrides, run_dir)!r})"


class RolloutsFailed(RuntimeError):
    """Every rollout of ``trainer.max_failed_steps`` consecutive steps failed."""


def eval_command(cfg: Config, run_dir: Path) -> str:
    """The command that evaluates this run's last checkpoint: the run's own overrides (the recipe's env option
    when an env's ``_tiny_`` recipe replaced ``env=``), without its trainer keys, and ``model=<run dir>``."""
    argv = sys.argv[1:] if Path(sys.argv[0]).name in ("run.py", "agentrl-run") else []
    keep = [f"env={cfg.env.recipe}" if cfg.env.recipe and a.startswith("env=") else a for a in argv
            if not a.startswith(("trainer.", "run_name=", "model=", "model.path="))]
    return shlex.join(["python", "-m", "agentrl.eval", *keep, f"model={run_dir}", "n=8"])


class Trainer:
    """One training run (see module docstring). ``train()`` returns the process exit code."""

    def __init__(self, cfg: Config, log: Callable[[str], None] | None = None, overrides: list[str] | None = None):
        """``overrides``: the config overrides ``cfg`` was loaded from (``agentrl.train([...])``), so that the
        printed resume hint repeats them."""
        from rich.console import Console

        self.console = Console(stderr=True)
        self.log = log or (lambda msg: self.console.print(msg, highlight=False, soft_wrap=True))  # paths whole
        self.cfg = cfg
        self.overrides = overrides
        check_learnable(cfg)
        if cfg.env.notice:
            self.log(cfg.env.notice)
        self.run_dir = resolve_run_dir(cfg)
        created = not self.run_dir.exists()
        self._lock = RunLock(self.run_dir).acquire()  # first: a busy run dir is named as such
        if not cfg.trainer.resume and has_checkpoints(self.run_dir):
            self._lock.release()
            raise FileExistsError(f"run directory {self.run_dir} already holds checkpoints; continue it with: "
                                  f"{resume_hint(self.run_dir, overrides)} (or pass another run_name to start a "
                                  "new run)")
        try:
            self._setup(cfg)
        except BaseException:  # a run that never started leaves no directory behind
            self._abandon_setup(created)
            raise

    def _setup(self, cfg: Config) -> None:
        found = find_resume_checkpoint(self.run_dir, self.log) if cfg.trainer.resume else None
        ckpt, state = found if found is not None else (None, None)
        if cfg.trainer.resume and ckpt is None:
            self.log(f"no checkpoint in {self.run_dir} yet; starting from step 0")
        random.seed(cfg.seed)
        import numpy as np
        import torch

        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        from agentrl.learner import Learner
        from agentrl.preflight import check_model_path, hub_load_error
        from agentrl.rollout.backends import make_backend
        from agentrl.rollout.engine import RolloutEngine
        from agentrl.rollout.health import check_servers

        if cfg.rollout.temperature <= 0:
            raise ValueError(f"rollout.temperature={cfg.rollout.temperature}: training needs sampled rollouts "
                             "(> 0); greedy decoding makes every rollout of a group the same")
        self.loop = asyncio.new_event_loop()
        self.backend = None
        if cfg.rollout.backend != "local" and not cfg.rollout.launch:  # servers first: the cheapest to check
            self.backend = make_backend(cfg.rollout)
            self.loop.run_until_complete(check_servers(self.backend))
        if ckpt is None:
            check_model_path(cfg.model.path)  # a missing local path: one line, before any output
        from agentrl.threads import apply_threads, wait_policy

        threads, why = apply_threads(cfg.trainer.threads)  # before the warm start, the learner, local rollouts
        if cfg.trainer.device == "cpu" or (cfg.trainer.device == "auto" and not torch.cuda.is_available()):
            self.log(f"CPU threads: {threads} ({why}); OpenMP waits: {wait_policy()}")
        try:
            self.c = build_components(cfg, log=self.log, model_dir=str(ckpt) if ckpt else None)
        except OSError as e:
            if (err := hub_load_error(cfg.model.path, e)) is not None:
                raise err from e
            raise
        (self.run_dir / "config.yaml").write_text(to_yaml(cfg))
        if self.backend is None:
            self.backend = make_backend(cfg.rollout, model=self.c.model, tokenizer=self.c.tokenizer,
                                        autocast_dtype=autocast_dtype(cfg, self.c.device))
            self.loop.run_until_complete(check_servers(self.backend))  # before any evaluation is on record
        self.engine = RolloutEngine(self.backend, self.c.fmt, self.c.env_factory, self.c.policy, cfg.rollout)
        self.steps_ahead = cfg.trainer.async_.steps_ahead
        algo = cfg.algo
        if self.steps_ahead:  # the behaviour importance weight is what makes stale data usable: always on
            algo = algo.model_copy(update={"tis_cap": algo.tis_cap or cfg.trainer.async_.is_cap})
        self.learner = Learner(self.c.model, self.c.fmt, self.c.policy, algo, device=self.c.device,
                               gradient_checkpointing=cfg.model.gradient_checkpointing, seed=cfg.seed,
                               temperature=cfg.rollout.temperature,
                               autocast_dtype=autocast_dtype(cfg, self.c.device), cpu_autocast=True)
        if self.steps_ahead:
            bound = cfg.trainer.async_.max_staleness
            self.learner.max_staleness = self.steps_ahead if bound is None else bound
        self.generator = None  # the async generator, started by train()
        env = self.c.env_factory()
        self.train_tasks = list(env.task_ids(cfg.env.train_split))
        self.eval_tasks = list(env.task_ids(cfg.env.eval_split))[: cfg.trainer.eval_tasks]
        env.close()
        self.step = 0
        self.data_pos = 0
        if ckpt is not None and state is not None:
            if state.get("optimizer") is not None:
                self.learner.optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            self.step, self.data_pos = int(state["step"]), int(state["data_pos"])
            self.learner.step_count = int(state.get("learner_step_count", self.step))  # seeds the τ draws
            self.log(f"resumed {self.run_dir} from step {self.step}")
            if cfg.rollout.backend != "local":
                self.sync_weights()  # a restarted server serves its own weights until told otherwise
            self.backend.version = self.step
        self.metrics = MetricsLog(self.run_dir, cfg.trainer.log, run_config=cfg.model_dump(mode="json"),
                                  truncate_after_step=self.step if ckpt is not None else None)
        self._stop = False
        self._collecting: asyncio.Task | None = None  # the rollout or evaluation a stop signal cancels
        self.failure: str | None = None  # why train() returned 1 (every rollout failed), for agentrl.train
        self._step_start: tuple[int, dict[str, Any]] | None = None
        self._last_failure: str | None = None  # the first error message of the last step's batch
        self._first_failure: str | None = None  # ... of the first step of a run of all-failed steps

    def _abandon_setup(self, created: bool) -> None:
        """Undo a start that failed: release the lock; remove the run directory if this start created it."""
        loop, backend = getattr(self, "loop", None), getattr(self, "backend", None)
        if loop is not None:
            if backend is not None:
                loop.run_until_complete(backend.close())
            if getattr(self, "engine", None) is not None:
                self.engine.close()
            loop.close()
        self._lock.release()
        if created and not has_checkpoints(self.run_dir):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ------------------------------------------------------------------ data
    def next_tasks(self, n: int) -> list[str]:
        """The next ``n`` training tasks: epochs over the task set, each in a seeded random order."""
        out = []
        for _ in range(n):
            epoch, i = divmod(self.data_pos, len(self.train_tasks))
            order = list(range(len(self.train_tasks)))
            random.Random(self.cfg.seed * 1_000_003 + epoch).shuffle(order)
            out.append(self.train_tasks[order[i]])
            self.data_pos += 1
        return out

    def collect(self, tasks: list[str], n: int, seed: int) -> list[list[Trajectory]]:
        """One batch of groups; raises :class:`ServerDied` when episodes failed because a server is down.

        A stop signal cancels the collection at once (generation is aborted, the step is rolled back) and
        raises ``KeyboardInterrupt``, so stopping never waits for a slow model's rollouts.
        """
        if self._stop:
            raise KeyboardInterrupt
        self._collecting = self.loop.create_task(self.engine.collect(tasks, n, seed=seed))
        try:
            groups = self.loop.run_until_complete(self._collecting)
        except asyncio.CancelledError:
            if self._stop:
                raise KeyboardInterrupt from None
            raise
        finally:
            self._collecting = None
        if any(t.error and t.error.startswith("backend:") for g in groups for t in g):
            self._check_servers()
        return groups

    def _check_servers(self) -> None:
        from agentrl.rollout.health import check_servers

        try:
            self.loop.run_until_complete(check_servers(self.backend))
        except ServerUnavailable as e:
            raise ServerDied(str(e)) from None

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict[str, Any]:
        cfg = self.cfg
        step = self.step + 1
        self._step_start = (self.data_pos, rng_state())  # what an interrupted step rolls back to
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        groups = self.collect(self.next_tasks(cfg.trainer.tasks_per_step), cfg.algo.group_size,
                              seed=cfg.seed * 7919 + step * 104729)
        if cfg.algo.dynamic_sampling:
            groups = self._dynamic_sampling(groups, step)
        times["time/rollout_s"] = time.perf_counter() - t0
        stats = group_stats(groups)
        self._last_failure = first_error(groups)
        t1 = time.perf_counter()
        learn = self.learner.step(groups)
        times["time/learner_s"] = time.perf_counter() - t1
        engine_stats = getattr(self.engine, "last_stats", None)
        extra = {f"rollout/{k}": v for k, v in (vars(engine_stats).items() if engine_stats is not None else [])
                 if isinstance(v, (int, float))}
        t2 = time.perf_counter()
        try:
            self.sync_weights()
        except ServerDied as e:  # the update is done; only the server missed it (resume syncs it again)
            self.step, self._step_start = step, None
            raise ServerDied(str(e), row={"step": step, **stats, **learn, **extra, **times}) from None
        times["time/weight_sync_s"] = time.perf_counter() - t2
        self.step = step
        wall = time.perf_counter() - t0
        times["time/generator_busy_s"] = extra.get("rollout/generation_busy_s", 0.0)
        util = {"util/generator": times["time/generator_busy_s"] / wall, "util/learner": times["time/learner_s"] / wall}
        return {"step": step, **stats, **learn, **extra, **times, **util, "time/step_s": wall}

    def train_step_async(self) -> dict[str, Any]:
        """One learner step on the next batch of the asynchronous generator, then publish the new weights."""
        from agentrl.learner.offpolicy import staleness_stats

        gen, step = self.generator, self.step + 1
        t0 = time.perf_counter()
        since, busy0 = self._last_step_end or (gen.t0, 0.0)
        batch = gen.take(step)
        times = {"time/rollout_wait_s": time.perf_counter() - t0, "time/rollout_s": batch.wall_s}
        groups = batch.groups
        stats = group_stats(groups)
        self._last_failure = first_error(groups)
        off = staleness_stats(groups, self.step, self.learner.max_staleness)
        t1 = time.perf_counter()
        learn = self.learner.step(groups)
        times["time/learner_s"] = time.perf_counter() - t1
        extra = {f"rollout/{k}": v for k, v in vars(batch.stats).items() if isinstance(v, (int, float))}
        t2 = time.perf_counter()
        try:
            self.sync_weights()
        except ServerDied as e:
            self.step = step
            raise ServerDied(str(e), row={"step": step, **stats, **learn, **extra, **off, **times}) from None
        times["time/weight_sync_s"] = time.perf_counter() - t2
        self.step = step
        end, busy = time.perf_counter(), gen.busy_s()
        wall = end - since  # since the previous step ended (evaluations excluded), waiting included
        self._last_step_end = (end, busy)
        times["time/generator_busy_s"] = busy - busy0
        util = {"util/generator": min(1.0, (busy - busy0) / max(wall, 1e-9)),
                "util/learner": times["time/learner_s"] / max(wall, 1e-9)}
        return {"step": step, **stats, **learn, **extra, **off, **times, **util,
                "async/steps_ahead": float(self.steps_ahead), "async/batch_start_version": float(batch.start_version),
                "time/step_s": wall}

    def sync_weights(self) -> None:
        """Make the generation backend sample from the updated weights.

        ``local`` shares the learner's model object, so this only bumps its version. A server backend loads
        a copy written to ``<run>/weights_sync`` (``/update_weights_from_disk``; every server must see it).
        """
        if self.cfg.rollout.backend == "local":
            self.loop.run_until_complete(self.backend.update_weights())
            if self.generator is not None:  # its own copy: loaded between two of its forward passes
                self.generator.publish_local(self.c.model.state_dict(), self.step + 1)
            return
        from agentrl.lora import save_model
        from agentrl.rollout.backends import BackendError

        path = self.run_dir / "weights_sync"
        save_model(self.c.model, path)  # with LoRA: the merged weights (agentrl/lora.py)
        self.c.tokenizer.save_pretrained(path)
        try:
            self.loop.run_until_complete(self.backend.update_weights(model_path=str(path.resolve())))
        except BackendError as e:
            self._check_servers()  # raises ServerDied when a server is down
            raise ServerDied(f"weight sync failed: {e}") from None
        self.backend.version = getattr(self.backend, "version", 0) + 1
        if self.generator is not None:
            self.generator.backend.version = self.step + 1  # requests sent from now on sample the new weights
            self.generator.publish(self.step + 1)

    def _dynamic_sampling(self, groups: list[list[Trajectory]], step: int) -> list[list[Trajectory]]:
        """DAPO: keep only groups whose rewards differ; sample more tasks until the batch is full."""
        from agentrl.learner.advantages import is_informative

        want = self.cfg.trainer.tasks_per_step
        keep = [g for g in groups if is_informative(g, self.cfg.algo)]
        for r in range(self.cfg.algo.max_resample_rounds):
            if len(keep) >= want:
                break
            more = self.collect(self.next_tasks(want - len(keep)), self.cfg.algo.group_size,
                                seed=self.cfg.seed * 7919 + step * 104729 + 1000 * (r + 1))
            keep += [g for g in more if is_informative(g, self.cfg.algo)]
        return keep[:want] if keep else groups

    def evaluate(self) -> dict[str, float]:
        """Success on the first ``eval_tasks`` tasks of the eval split, ``eval_n`` samples each."""
        groups = self.collect(self.eval_tasks, self.cfg.trainer.eval_n, seed=12345)
        s = group_stats(groups)
        return {"eval/success": s["success"], "eval/reward": s["reward"]}

    def save(self, *, interrupted: bool = False) -> Path:
        """Checkpoint the last completed step (an interrupted step's data and RNG use are rolled back)."""
        data_pos, rng = self.data_pos, None
        if interrupted and self._step_start is not None:
            data_pos, rng = self._step_start
        if self.generator is not None:  # batches in flight are dropped: a resumed run collects them anew
            data_pos = self.generator.resume_data_pos(self.step)
        return save_checkpoint(self.run_dir, self.step, self.c.model, self.c.tokenizer, self.learner.optimizer,
                               {"data_pos": data_pos, "learner_step_count": self.learner.step_count}, rng=rng)

    def finish(self) -> Path:
        """Write the run's report (learning curves, eval success per step) and say what to run next."""
        from agentrl.evaluation.report import read_metrics, write_report

        evals = {f"eval success, step {r['step']}": r["eval/success"] for r in read_metrics(self.run_dir)
                 if "eval/success" in r}
        report = write_report(self.run_dir / "report.html", summary={"steps": self.step, **evals},
                              title=f"agentrl run: {self.cfg.env.id}, {self.cfg.algo.name} ({self.run_dir.name})",
                              run_dir=self.run_dir)
        self.log(f"report: {report}")
        self.log("next:")
        self.log(f"  evaluate it (Avg@8, Pass@k, every trajectory): {eval_command(self.cfg, self.run_dir)}")
        self.log("  another env (configs/env/: math_warmup, webshop, guess_warmup, ...; a pretrained model: "
                 "model=<path or hub id>): python -m agentrl.run env=<name>")
        return report

    # ------------------------------------------------------------------ the loop
    def train(self) -> int:
        tcfg = self.cfg.trainer
        previous = signal.signal(signal.SIGTERM, self._on_signal)
        previous_int = signal.signal(signal.SIGINT, self._on_signal)
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                            console=self.console,
                            disable=not tcfg.log.progress)
        self.log(f"run directory: {self.run_dir}")
        try:
            if self.steps_ahead and self.step < tcfg.steps:
                from agentrl.rollout.async_generator import AsyncGenerator

                self.generator = AsyncGenerator(self, self.steps_ahead)
                self.generator.start()
                self._last_step_end = None
            with progress:
                bar = progress.add_task("train", total=tcfg.steps, completed=self.step, status="")
                if self.step == 0 and tcfg.eval_every:
                    row = {"step": 0, **self.evaluate()}
                    self.metrics.write(row)
                    self.log(f"step 0 (warm start): eval success {row['eval/success']:.3f}")
                recent: list[tuple[int, float]] = []  # train rewards since the last eval
                failed_steps: list[int] = []  # consecutive steps in which every rollout failed
                while self.step < tcfg.steps and not self._stop:
                    row = self.train_step_async() if self.generator is not None else self.train_step()
                    self._step_start = None
                    failed_steps = self._check_failed(row, failed_steps)
                    recent.append((self.step, row["reward"]))
                    if tcfg.eval_every and self.step % tcfg.eval_every == 0:
                        try:
                            row.update(self.evaluate())
                        except ServerDied as e:
                            raise ServerDied(str(e), row=row) from None
                        except KeyboardInterrupt:  # stopped during the evaluation: the step itself is done
                            self.metrics.write(row)
                            raise
                        if self.generator is not None:  # the next step's wall time leaves the evaluation out
                            self._last_step_end = (time.perf_counter(), self.generator.busy_s())
                        mean = sum(r for _, r in recent) / len(recent)
                        span = f"steps {recent[0][0]}-{self.step}" if len(recent) > 1 else f"step {self.step}"
                        progress.console.print(f"step {self.step}: eval success {row['eval/success']:.3f} "
                                               f"(train reward {mean:.3f}, mean of {span})",
                                               highlight=False, soft_wrap=True)
                        recent = []
                    self.metrics.write(row)
                    status = f"reward {row['reward']:.3f} success {row['success']:.2f}"
                    if "eval/success" in row:
                        status += f" eval {row['eval/success']:.2f}"
                    progress.update(bar, completed=self.step, status=status)
                    if tcfg.save_every and self.step % tcfg.save_every == 0:
                        self.save()
            if self._stop:
                raise KeyboardInterrupt
            path = self.save()
            self.log(f"finished {self.step} steps; final checkpoint {path}")
            self.finish()
            return 0
        except KeyboardInterrupt:
            path = self.save(interrupted=True)
            self.log(f"interrupted at step {self.step}; saved {path}; resume with: "
                     f"{resume_hint(self.run_dir, self.overrides)}")
            return 130
        except RolloutsFailed as e:
            self.failure = str(e)
            self.log(f"error: {e}")
            return 1
        except ServerDied as e:
            if e.row is not None:
                self.metrics.write(e.row)
            path = self.save(interrupted=True)
            self.log(f"error: {e}")
            self.log(f"stopped at step {self.step}, the last completed step (saved in {path}); restart the server "
                     f"and resume with: {resume_command(self.run_dir)}")
            return 3
        except GeneratorCrashed as e:
            path = self.save(interrupted=True)
            self.log(f"error: {e}; stopped at step {self.step}, the last completed step (saved in {path}); "
                     f"resume with: {resume_command(self.run_dir)}")
            return 1
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            if self.generator is not None:
                self.generator.close()
            self.metrics.close()
            pending = asyncio.all_tasks(self.loop)  # a second Ctrl-C can leave a batch half-collected
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.engine.close()
            self.loop.run_until_complete(self.backend.close())
            self.loop.close()
            self._lock.release()

    def _check_failed(self, row: dict[str, Any], failed_steps: list[int]) -> list[int]:
        """Count the steps in a row whose every rollout failed; at ``trainer.max_failed_steps`` of them, write
        the step's metrics and raise :class:`RolloutsFailed` naming the first failure's message."""
        if not row["trajectories"] or row["failed"] < row["trajectories"]:
            return []
        if not failed_steps:
            self._first_failure = self._last_failure
        failed_steps = [*failed_steps, self.step]
        limit = self.cfg.trainer.max_failed_steps
        if limit and len(failed_steps) >= limit:
            self.metrics.write(row)
            span = f"step {failed_steps[0]}" if len(failed_steps) == 1 else \
                f"steps {failed_steps[0]}-{failed_steps[-1]}"
            raise RolloutsFailed(
                f"every rollout failed in {span} ({row['failed']:.0f} of {row['trajectories']:.0f} in the last); "
                f"the first failure: {' '.join(str(self._first_failure).split())}. Fix the env or policy, or "
                "raise trainer.max_failed_steps (0 = never stop)")
        return failed_steps

    def _on_signal(self, signum: int, frame: Any) -> None:
        """SIGTERM or a first Ctrl-C: abort the rollout in flight (or finish the learner's update), save the last
        completed step and exit; a second Ctrl-C: stop now."""
        if signum == signal.SIGINT and self._stop:
            raise KeyboardInterrupt
        self._stop = True
        if self._collecting is not None and not self._collecting.done():
            self.loop.call_soon_threadsafe(self._collecting.cancel)
        if signum == signal.SIGINT:
            self.log("stopping: the rollout in flight is dropped, the last completed step saved (Ctrl-C again to "
                     "stop now)")


def train(cfg: Config) -> int:
    """Train with ``cfg``; returns the exit code."""
    try:
        trainer = Trainer(cfg)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return trainer.train()
