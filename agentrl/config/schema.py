"""The validated shape of an agentrl config (pydantic).

Every section forbids unknown keys, so a typo fails with its dotted path and a suggestion
(see :mod:`agentrl.config.compose`). Each section's defaults are the documented defaults of the method.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EnvConfig(Section):
    """Which environment, its constructor arguments and the agent format (policy) that talks to it."""

    id: str = "guess"
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to agentrl.make(id, **kwargs)")
    policy: str = Field("default", description="agent format from policies/ ('default' = the env's own)")
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)
    train_split: str = "train"
    eval_split: str = "test"
    notice: str | None = Field(None, description="printed at the start of a run (set by an env's _tiny_ recipe)")
    recipe: str | None = Field(None, description="the env option an env's _tiny_ recipe ran instead of the one "
                                                 "asked for (what to evaluate the run with)")
    tiny_unlearnable: str | None = Field(
        None, description="why the embedded tiny model cannot learn this env (set by the env's _tiny_ key); "
        "the trainer refuses to start with it unless model.tiny.allow_unlearnable=true")


class TinyModelConfig(Section):
    """Shape and warm start of the embedded default model (``model.path=tiny``)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    vocab_size: int = 2048
    max_position_embeddings: int = 2048
    sft_episodes: int = 400
    sft_epochs: int = 8
    sft_lr: float = Field(3e-3, gt=0)
    sft_batch_tokens: int = Field(1024, ge=64)
    sft_lr_schedule: Literal["constant", "cosine"] = "constant"
    sft_observation_weight: float = Field(
        0.0, ge=0.0, description="loss weight of observation tokens in the warm start (language modelling on "
                                 "the env's text teaches copying from the context); agent tokens weigh 1")
    sft_turn_windows: float = Field(
        0.0, ge=0.0, le=1.0, description="share of later demonstration turns also trained on alone (system "
                                         "prompt + that observation + reply): short, cheap examples of acting "
                                         "on one page")
    sft_first_turns: int = Field(0, ge=0, description="passes over the first turn alone of every train task "
                                                      "(first observation -> first oracle action): short "
                                                      "examples of acting on the task itself, e.g. WebShop's "
                                                      "search that copies the instruction")
    sft_leading_turns: int = Field(1, ge=1, description="how many leading turns of every train task the "
                                                         "first-turn passes cover, each turn alone (system "
                                                         "prompt + that observation + the oracle's reply): "
                                                         "e.g. 3 on WebShop adds the option clicks")
    sft_noise: float = Field(0.3, ge=0.0, le=1.0, description="share of demonstration turns made imperfect")
    sft_reference: float = Field(
        0.0, ge=0.0, le=1.0, description="share of the demonstration tasks also shown in the self-teacher's "
                                         "format (guide + a demonstration of the same task in the system "
                                         "prompt, two examples per task: verified and unverified), so the "
                                         "model learns to read a hint as SC-GRPO's teacher needs")
    copy_steps: int = Field(0, ge=0, description="steps on synthetic copy sequences before the warm start (the "
                                                 "tiny model's stand-in for pre-training: it learns to copy "
                                                 "from its context); ~600 on the default shape")
    copy_lr: float = Field(1e-3, gt=0)
    allow_unlearnable: bool = Field(False, description="train the tiny model on an env it cannot learn (its "
                                    "reward stays 0; e.g. to check the pipeline)")
    seed: int | None = Field(None, description="seed of the warm start (default: the run's seed); fix it to "
                                               "train several RL seeds from one warm start")


class LoraConfig(Section):
    """LoRA adapters (peft) on the policy model: the optimizer trains the adapters only, the base stays frozen."""

    enabled: bool = False
    rank: int = Field(16, ge=1, description="the adapters' rank r")
    alpha: float = Field(32.0, gt=0, description="scaling numerator: an adapter's update is (alpha / rank) B A x")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapters' input in training "
                                                             "forwards (0 keeps the PPO ratio exactly 1 on "
                                                             "fresh data)")
    target_modules: str | list[str] = Field(
        "all-linear", description="the Linear layers that get adapters: 'all-linear' (every projection of the "
                                  "attention and MLP blocks, not the output head) or a list of module names, "
                                  "e.g. [q_proj, v_proj]")


class ModelConfig(Section):
    """The policy model: any transformers causal LM (hub id or local directory) or the embedded ``tiny``."""

    path: str = "tiny"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    chat_template: str | None = Field(None, description="built-in name, .jinja path, or template text")
    template_kwargs: dict[str, Any] = Field(default_factory=dict)
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False
    autocast: Literal["auto", "off", "bf16"] = Field(
        "auto", description="compute dtype of the learner's and the local backend's forwards: bf16 autocast "
                            "(weights, optimizer and log-softmax stay float32) on CUDA with 'auto', on CPU too "
                            "with 'bf16' (fast where the CPU has AVX512-BF16 or AMX); 'off' for float32")
    cache_dir: str = "~/.cache/agentrl"
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)


class SCConfig(Section):
    """Self-conditioning (SC-GRPO) settings; see shared ALGORITHM.md."""

    enabled: bool = Field(False, description="self-conditioning on top of grpo/dapo (always on for sc_grpo)")
    c_min: float = Field(1e-4, gt=0)
    percentile: float = Field(75.0, gt=0, lt=100)
    alpha: float = Field(0.1, ge=0, description="scale of the solve-none diversity pseudo-advantage")
    min_correct: int = Field(2, ge=1, description="groups need this many correct rollouts to use a τ")
    solve_none: bool = True
    guide: str = "A verified solution to this task follows; use it as a hint.\n\n"
    guide_unverified: str = Field(
        "An earlier attempt at this task follows; it was not verified and may be wrong.\n\n",
        description="guide for the solve-none reference o_r, which is not a verified solution (paper silent)")
    tau_render: Literal["trajectory", "actions"] = Field(
        "trajectory", description="what the teacher sees of τ: every agent turn decoded from its sampled ids "
                                  "with the env's observations (the paper), or only the parsed actions (ablation)")
    tau_max_tokens: int | None = Field(
        1024, ge=16, description="longest rendered τ in tokens: a longer one keeps the task and the last turns "
                                 "and marks the cut; null for no limit")
    c_scope: Literal["micro_batch", "step"] = Field(
        "micro_batch", description="c = P<percentile> of D over the micro-batch's active tokens (the paper) or "
                                   "over the whole step's (the same on every rank, independent of "
                                   "micro_batch_tokens; costs a no-gradient pass first)")
    chunk_tokens: int = Field(512, ge=1, description="tokens per chunk when projecting to the vocabulary")
    share_prefix_cache: bool = True
    diversity_c: Literal["group", "solve_none"] = Field(
        "group", description="solve-none: c of f(D) in s_i = P<percentile> of the D of the group's own rollouts "
                             "(paper silent) or of all the step's solve-none rollouts (this rank's)")


class AlgoConfig(Section):
    """Learner: advantages, clipping, loss aggregation, optimiser, micro-batching."""

    name: Literal["grpo", "dapo", "sc_grpo"] = "sc_grpo"
    group_size: int = Field(8, ge=1)
    success_threshold: float = 1.0
    adv_eps: float = 1e-6
    adv_std_unbiased: bool = Field(True, description="sample (n-1) std in advantage normalisation, as verl/TRL")
    clip_low: float = Field(0.2, ge=0)
    clip_high: float = Field(0.2, ge=0)
    loss_agg: Literal["seq-mean-token-mean", "token-mean"] = "seq-mean-token-mean"
    dynamic_sampling: bool = False
    max_resample_rounds: int = Field(4, ge=0)
    success_bonus: float = Field(0.0, ge=0, description="added to the reward of a correct rollout before the "
                                                        "advantage (a success coefficient, as verl-agent's): on "
                                                        "partial-credit envs such as WebShop it makes a full "
                                                        "success worth more than any near miss")
    overlong_penalty: bool = False
    overlong_max_tokens: int = Field(1024, ge=1)
    overlong_cache_tokens: int = Field(256, ge=0)
    tis_cap: float | None = Field(None, gt=0, description="truncated importance sampling cap C")
    kl_coef: float = Field(0.0, ge=0)
    sc: SCConfig = Field(default_factory=SCConfig)
    lr: float = Field(1e-5, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = Field(1.0, gt=0)
    updates_per_batch: int = Field(1, ge=1, description="mini-batch updates per rollout batch")
    micro_batch_tokens: int = Field(4096, ge=1)


class RolloutConfig(Section):
    """Generation backend and the async rollout engine's limits."""

    backend: Literal["local", "sglang", "vllm"] = "local"
    urls: list[str] = Field(default_factory=list)
    launch: bool = False
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = -1
    max_new_tokens: int = Field(256, ge=1, description="per turn")
    max_context_tokens: int = Field(2048, ge=1, description="per trajectory")
    max_concurrent_requests: int = Field(64, ge=1)
    env_workers: int = Field(4, ge=1)
    step_timeout_s: float = Field(60.0, gt=0)
    episode_timeout_s: float = Field(900.0, gt=0)
    request_timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(3, ge=0)
    retry_backoff_s: float = Field(0.5, ge=0)
    max_batch_size: int = Field(32, ge=1, description="local backend: sequences decoded together")


class LogConfig(Section):
    jsonl: bool = True
    progress: bool = True
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "agentrl"


class AsyncConfig(Section):
    """Asynchronous off-policy training (``trainer.async``): generation overlaps the learner."""

    steps_ahead: int = Field(0, ge=0, description="0 = the synchronous loop (collect, learn, sync, repeat); "
                                                  "k > 0 = generation runs continuously, up to k learner steps "
                                                  "ahead of the learner (no trained token is sampled by "
                                                  "weights more than k versions old)")
    max_staleness: int | None = Field(None, ge=0, description="turns sampled by weights more than this many "
                                                              "versions behind the learner get no gradient "
                                                              "(counted in async/dropped_tokens); null = "
                                                              "steps_ahead")
    is_cap: float = Field(2.0, gt=0, description="cap C of the behaviour importance weight "
                                                 "min(pi_prox/pi_behav, C) of the decoupled loss (algo.tis_cap "
                                                 "wins when set)")


class TrainerConfig(Section):
    """The training loop: how long, how often to evaluate and checkpoint, where to write."""

    # ``async`` is a Python keyword: the field is ``async_``, read and written as ``trainer.async``
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)

    steps: int = Field(20, ge=0)
    tasks_per_step: int = Field(4, ge=1)
    eval_every: int = Field(10, ge=0, description="0 = never")
    eval_tasks: int = Field(64, ge=1)
    eval_n: int = Field(1, ge=1)
    save_every: int = Field(10, ge=0, description="0 = only at the end")
    output_dir: str = "runs"
    resume: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch's intra-op CPU threads; null = OMP_NUM_THREADS "
                                                         "when set, else the cores the machine's load leaves "
                                                         "free (agentrl/threads.py)")
    max_failed_steps: int = Field(3, ge=0, description="stop the run (exit 1) after this many consecutive steps "
                                                       "in which every rollout failed; 0 = never")
    log: LogConfig = Field(default_factory=LogConfig)
    async_: AsyncConfig = Field(default_factory=AsyncConfig, alias="async")


class EvalConfig(Section):
    """``python -m agentrl.eval``: which split, how many samples per task, where to write."""

    split: str = "test"
    n: int = Field(8, ge=1, description="samples per task (Avg@n, Pass@k for k <= n)")
    tasks: int | None = Field(None, ge=1, description="first N tasks of the split (None = all)")
    temperature: float | None = Field(None, ge=0, description="None = rollout.temperature")
    output_dir: str | None = Field(None, description="None = <model dir>/eval or runs/eval-<env>")
    report: bool = True
    heatmaps: int = Field(4, ge=0, description="trajectories drawn with per-token SC weights")
    seed: int = 1234


class Config(Section):
    """A whole run."""

    env: EnvConfig = Field(default_factory=EnvConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    seed: int = 0
    run_name: str | None = None
