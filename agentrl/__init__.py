"""agentrl: reinforcement learning for LLM agents in multi-turn text environments.

Public entry points: the env API (:class:`AgentEnv`), the registry (:func:`register`, :func:`make`,
:func:`list_envs`), token-in/token-out :class:`Trajectory` and :class:`ChatFormat`, and configs
(:func:`load_config`). Heavy parts (models, rollout, learner) are imported from their own modules.
"""

from agentrl.chat import ChatFormat, TemplateError
from agentrl.config import Config, ConfigError, load_config
from agentrl.env import AgentEnv, AnyText, StepResult
from agentrl.registry import UnknownEnvError, list_envs, make, register, spec
from agentrl.trajectory import Trajectory, Turn

__version__ = "0.1.0"


def train(overrides: list[str] | Config | None = None):
    """Train as ``python -m agentrl.run`` would (config overrides or a :class:`Config`); returns the run dir."""
    from agentrl.trainer import Trainer

    cfg = overrides if isinstance(overrides, Config) else load_config(list(overrides or []))
    trainer = Trainer(cfg)
    code = trainer.train()
    if code != 0:
        raise RuntimeError(f"training stopped early (exit code {code}); resume with resume=true "
                           f"run_name={trainer.run_dir.name}")
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
