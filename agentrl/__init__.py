"""agentrl: reinforcement learning for LLM agents in multi-turn text environments.

Importing agentrl before torch sets ``OMP_WAIT_POLICY=PASSIVE`` unless set (:mod:`agentrl.threads`).

Public entry points: the env API (:class:`AgentEnv`), the registry (:func:`register`, :func:`make`,
:func:`list_envs`), token-in/token-out :class:`Trajectory` and :class:`ChatFormat`, and configs
(:func:`load_config`). Heavy parts (models, rollout, learner) are imported from their own modules.
"""

from agentrl.threads import prepare_openmp

prepare_openmp()  # before anything loads torch: OpenMP reads its wait policy once, when torch loads it

from agentrl.chat import ChatFormat, TemplateError  # noqa: E402
from agentrl.config import Config, ConfigError, load_config  # noqa: E402
from agentrl.env import AgentEnv, AnyText, StepResult  # noqa: E402
from agentrl.registry import UnknownEnvError, list_envs, make, register, spec  # noqa: E402
from agentrl.trajectory import Trajectory, Turn  # noqa: E402

__version__ = "0.1.0"


def train(overrides: list[str] | Config | None = None):
    """Train as ``python -m agentrl.run`` would (config overrides or a :class:`Config`); returns the run dir."""
    from agentrl.trainer import Trainer, resume_hint

    args = None if isinstance(overrides, Config) else list(overrides or [])
    cfg = overrides if isinstance(overrides, Config) else load_config(args)
    trainer = Trainer(cfg, overrides=args)
    code = trainer.train()
    if trainer.failure:
        raise RuntimeError(trainer.failure)
    if code != 0:
        how = (resume_hint(trainer.run_dir, args) if args is not None else
               f"the same config with trainer.resume=true and run_name={trainer.run_dir.name}")
        raise RuntimeError(f"training stopped early (exit code {code}); resume with {how}")
    return trainer.run_dir


def evaluate(overrides: list[str] | Config | None = None) -> dict[str, float | int]:
    """Evaluate as ``python -m agentrl.eval`` would; returns the summary (``avg@n``, ``pass@k``, ...)."""
    from agentrl.eval import SHORTHANDS, load_eval_config, run_evaluation

    if not isinstance(overrides, Config):
        args = [f"{SHORTHANDS[a.split('=', 1)[0]]}={a.split('=', 1)[1]}" if a.split("=", 1)[0] in SHORTHANDS
                else a for a in (overrides or [])]
        overrides = load_eval_config(args)
    return run_evaluation(overrides)[0]

__all__ = ["evaluate", "train", "AgentEnv", "AnyText", "ChatFormat", "Config", "ConfigError", "StepResult", "TemplateError",
           "Trajectory", "Turn", "UnknownEnvError", "list_envs", "load_config", "make", "register", "spec"]
