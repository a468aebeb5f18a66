"""The learner: one call of :meth:`Learner.step` turns a batch of rollout groups into one (or a few) updates.

Order of work in a step (ALGORITHM.md):

1. route every group by its number of correct rollouts (:mod:`agentrl.learner.advantages`); DAPO dynamic
   sampling drops uninformative groups;
2. teacher pass, no gradient: hidden states of the self-teacher at the agent tokens of every self-conditioned
   rollout, one shared-prefix KV cache per distinct τ (:mod:`agentrl.learner.teacher`);
3. solve-none groups: a no-gradient student pass gives D, hence the diversity pseudo-advantages (and, with
   several updates per batch, π_old for every rollout);
4. per update: micro-batches packed by token budget; each runs the student with gradients, computes
   log-probs, entropy and D chunk by chunk (:mod:`agentrl.learner.logprobs`), weights f(D) with c from the
   micro-batch, the clipped loss (:mod:`agentrl.learner.loss`), backward; then grad-norm clipping and the
   optimizer step.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from agentrl.chat import ChatFormat
from agentrl.config.schema import AlgoConfig
from agentrl.env import rng_for
from agentrl.learner import distributed as dist_utils
from agentrl.learner.advantages import (ROUTES, GroupPlan, RolloutPlan, diversity_advantages, f_weight,
                                        is_informative, percentile_c, route_group, sc_enabled)
from agentrl.learner.logprobs import TokenScorer, TokenScores
from agentrl.learner.loss import policy_loss, row_scales, sc_token_weights, truncated_is
from agentrl.learner.offpolicy import stale_keep
from agentrl.learner.reference import TeacherPrompt, teacher_policy
from agentrl.learner.batching import pack_by_tokens, pad_right
from agentrl.learner.teacher import TeacherJob, agent_positions, teacher_hidden_states
from agentrl.trajectory import Trajectory
from policies.base import Policy


def _masked(d: torch.Tensor, kept: dict[int, torch.Tensor] | None, plan: RolloutPlan) -> torch.Tensor:
    """``d`` (one value per agent token of ``plan``) without the tokens async training dropped."""
    return d if kept is None else d[kept[id(plan)].to(d.device)]


def _quantiles(x: torch.Tensor, qs: Sequence[float]) -> list[float]:
    if x.numel() == 0:
        return [0.0] * len(qs)
    x = x.double()
    if x.numel() > (1 << 24):
        x = x[torch.randperm(x.numel())[: 1 << 24]]
    return torch.quantile(x, torch.tensor(qs, dtype=torch.float64)).tolist()


class Learner:
    """GRPO / DAPO / SC-GRPO learner over a transformers causal LM.

    Args:
        model: the policy (a transformers causal LM); trained in place.
        fmt: the chat format the rollouts were built with (renders the teacher's system prompt).
        policy: the agent format (system prompt with guide instruction + rendered τ for the teacher); an
            explicitly set ``algo.sc.guide`` replaces the policy's guide instruction.
        cfg: the ``algo`` config section.
        device: where to train (default: the model's device; ``cuda:LOCAL_RANK`` under torchrun with CUDA).
        optimizer: an optimizer, or a factory ``params -> optimizer`` (needed under FSDP2, whose sharding
            replaces the parameters); default AdamW(lr, betas, weight_decay).
        gradient_checkpointing: recompute transformer blocks in backward (saves activation memory).
        seed: seeds the τ draws (per step and task id, so runs are reproducible).
        autocast_dtype: autocast dtype on CUDA (bf16 by default; log-softmax stays float32); ignored on CPU
            unless ``cpu_autocast``.
        cpu_autocast: use ``autocast_dtype`` on CPU too (``model.autocast=bf16``).
        temperature: the rollouts' sampling temperature; log-probs, entropy and D are taken at it, so the
            update stays on-policy (and matches the backends' returned log-probs) when it is not 1.

    Under ``torchrun`` (an initialised process group with several ranks) the model is sharded with FSDP2.
    """

    def __init__(self, model: nn.Module, fmt: ChatFormat, policy: Policy, cfg: AlgoConfig, *,
                 device: torch.device | str | None = None,
                 optimizer: torch.optim.Optimizer | Callable[[list[nn.Parameter]], torch.optim.Optimizer] | None = None,
                 gradient_checkpointing: bool = False, seed: int = 0,
                 autocast_dtype: torch.dtype | None = torch.bfloat16, temperature: float = 1.0,
                 cpu_autocast: bool = False):
        if cfg.kl_coef > 0:
            raise ValueError(f"algo.kl_coef={cfg.kl_coef}: a KL-to-reference penalty is not implemented "
                             "(ALGORITHM.md uses none); set algo.kl_coef=0")
        policy = teacher_policy(policy, cfg.sc)  # an explicit algo.sc.guide* overrides the policy's own
        self.cfg, self.fmt, self.policy, self.seed = cfg, fmt, policy, seed
        self.sc = sc_enabled(cfg)
        if device is None:
            device = (torch.device("cuda", torch.cuda.current_device())
                      if dist_utils.is_distributed() and torch.cuda.is_available()
                      else next(model.parameters()).device)
        self.device = torch.device(device)
        self.model = model.to(self.device)
        if gradient_checkpointing:  # transformers >= 5 renamed it; older releases only have the first name
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.scorer = TokenScorer(model, cfg.sc.chunk_tokens, temperature=temperature)
        if dist_utils.is_distributed():
            dist_utils.shard(self.scorer, model, self.device)
        if isinstance(optimizer, torch.optim.Optimizer):
            if dist_utils.is_distributed():
                raise ValueError("under FSDP2 pass the optimizer as a factory (params -> optimizer): sharding "
                                 "replaces the parameters an optimizer built beforehand holds")
            self.optimizer = optimizer
        else:
            factory = optimizer or (lambda params: torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas,
                                                                     weight_decay=cfg.weight_decay))
            self.optimizer = factory([p for p in self.scorer.parameters() if p.requires_grad])  # LoRA: adapters
        self.autocast_dtype = autocast_dtype if self.device.type == "cuda" or cpu_autocast else None
        self.step_count = 0
        self.max_staleness: int | None = None  # async training: older turns get no gradient (offpolicy.py)

    # ------------------------------------------------------------------ helpers
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @contextlib.contextmanager
    def _eval(self) -> Iterator[None]:
        """Teacher and scoring passes: eval mode (no dropout, KV cache allowed), no gradient."""
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was)

    def _sync(self, planned: int) -> int:
        """How many forwards every rank makes: the most any rank planned (FSDP2 gathers weights in each).

        Called *before* the forwards, so that this collective never interleaves with FSDP2's all-gathers.
        """
        return dist_utils.global_max(planned, self.device)

    def _pad_forwards(self, missing: int, grad: bool = False) -> None:
        """Run ``missing`` 1-token dummy passes (with a zero backward when ``grad``)."""
        for _ in range(missing):
            x = torch.zeros(1, 1, dtype=torch.long, device=self.device)
            rows = torch.zeros(1, dtype=torch.long, device=self.device)
            if grad:
                with self._autocast():
                    out = self.scorer(x, rows, targets=rows)
                (out.logp.sum() * 0.0).backward()
            else:
                with self._eval(), self._autocast():
                    self.scorer(x, rows)

    def _batch(self, plans: Sequence[RolloutPlan], teacher: dict[int, torch.Tensor] | None,
               skip: dict[int, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[int]]:
        """Right-padded ids, the scorer's row arguments, and agent-token counts of a micro-batch.

        Teacher rows go only to self-conditioned plans with teacher hidden states not in ``skip``."""
        seqs = [p.traj.token_ids for p in plans]
        x = pad_right(seqs, self.device)
        width = x.shape[1]
        rows, targets, lengths, t_rows, t_hidden = [], [], [], [], []
        for b, p in enumerate(plans):
            pos = agent_positions(p.traj)
            if teacher and p.sc and id(p) in teacher and not (skip and id(p) in skip):
                t_rows += range(len(rows), len(rows) + len(pos))
                t_hidden.append(teacher[id(p)])
            rows += [b * width + t - 1 for t in pos]
            targets += [p.traj.token_ids[t] for t in pos]
            lengths.append(len(pos))
        kw = {"targets": torch.tensor(targets, dtype=torch.long, device=self.device)}
        if t_hidden:
            kw["teacher_hidden"] = torch.cat(t_hidden).to(self.device)
            kw["teacher_rows"] = torch.tensor(t_rows, dtype=torch.long, device=self.device)
        return x, {"rows": torch.tensor(rows, dtype=torch.long, device=self.device), **kw}, lengths

    def _known_kl(self, plans: Sequence[RolloutPlan], lengths: list[int], kl: torch.Tensor,
                  known: dict[int, torch.Tensor] | None) -> torch.Tensor:
        """The forward's per-row D, with the rows of plans whose D is ``known`` replaced by it."""
        if not known or not any(id(p) in known for p in plans):
            return kl
        parts, start = [], 0
        for p, n in zip(plans, lengths):
            parts.append(known[id(p)].to(kl.device) if id(p) in known else kl[start:start + n])
            start += n
        return torch.cat(parts)

    def _score(self, plans: Sequence[RolloutPlan], teacher: dict[int, torch.Tensor]) -> dict[int, TokenScores]:
        """No-gradient student scores of ``plans`` (log-probs and D per agent token), keyed by plan id."""
        out: dict[int, TokenScores] = {}
        batches = pack_by_tokens([len(p.traj.token_ids) for p in plans], self.cfg.micro_batch_tokens)
        target = self._sync(len(batches))
        for batch in batches:
            mb = [plans[i] for i in batch]
            x, kw, lengths = self._batch(mb, teacher)
            with self._eval(), self._autocast():
                s = self.scorer(x, **kw)
            start = 0
            for p, n in zip(mb, lengths):
                out[id(p)] = TokenScores(s.logp[start:start + n], s.entropy[start:start + n], s.kl[start:start + n])
                start += n
        self._pad_forwards(target - len(batches))
        return out

    # ------------------------------------------------------------------ the step
    @staticmethod
    def validate(groups: Sequence[Sequence[Trajectory]]) -> None:
        """Raise ``TypeError``/``ValueError`` naming the first malformed group or trajectory."""
        if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
            raise TypeError(f"groups must be a list of lists of Trajectory, got {type(groups).__name__}")
        for gi, g in enumerate(groups):
            if isinstance(g, Trajectory) or not isinstance(g, Sequence):
                raise TypeError(f"groups[{gi}] must be a list of Trajectory (one group per task), "
                                f"got {type(g).__name__}")
            for ti, t in enumerate(g):
                if not isinstance(t, Trajectory):
                    raise TypeError(f"groups[{gi}][{ti}] must be a Trajectory, got {type(t).__name__}")
                if t.failed:
                    continue
                try:
                    t.check()
                    assert 1 <= t.prompt_len <= len(t.token_ids) or not t.num_agent_tokens, \
                        f"prompt_len={t.prompt_len} outside 1..{len(t.token_ids)}"
                    assert 0 <= t.system_len <= t.prompt_len, \
                        f"system_len={t.system_len} not within 0..prompt_len={t.prompt_len}"
                except AssertionError as e:
                    raise ValueError(f"groups[{gi}][{ti}] (task {t.task_id!r}) is malformed: {e}") from None

    def route(self, groups: Sequence[Sequence[Trajectory]]) -> tuple[list[GroupPlan], int]:
        """Routing plans of this step's groups and how many groups dynamic sampling dropped."""
        plans, dropped, seen = [], 0, Counter()
        for g in groups:
            valid = [t for t in g if not t.failed]
            if self.cfg.dynamic_sampling and not is_informative(list(g), self.cfg):
                dropped += 1
                continue
            tid = valid[0].task_id if valid else ""
            seen[tid] += 1
            plans.append(route_group(list(g), self.cfg, rng_for(self.seed, self.step_count, tid, seen[tid])))
        return plans, dropped

    def step(self, groups: Sequence[Sequence[Trajectory]]) -> dict[str, float]:
        """One learner step on ``groups`` (each a list of G rollouts of one task); returns metrics.

        Failed rollouts (``traj.error`` set) are left out. Metrics: ``loss``, ``grad_norm``, ``pg_clipfrac``,
        ``entropy`` (mean over trained agent tokens), ``route/<case>`` (share of groups per routing case),
        ``groups/kept|dropped``, ``rollouts/failed``, ``reward/mean``, ``tokens/agent|forward``,
        ``teacher/prefixes|tokens``; with self-conditioning ``teacher/tau_tokens`` (mean τ length in tokens),
        ``teacher/tau_cut`` (share of references cut to ``sc.tau_max_tokens``), ``teacher/tau_cut_tokens``
        (share of τ tokens cut away), ``sc/D_p25|p50|p75|p95`` (this rank's active
        tokens), ``sc/weight_mean`` (mean f(D)), ``sc/c_mean``, ``sc/active_tokens``; ``time/teacher_s`` (teacher
        pass), ``time/score_s`` (no-gradient student pass), ``time/update_s``, ``time/step_s``. Rollouts whose
        loss is exactly zero (plain ones with advantage 0, the solve-none reference) are not run through the
        model.
        """
        cfg, t_start = self.cfg, time.perf_counter()
        self.validate(groups)
        self.step_count += 1
        self.model.train()
        plans, dropped = self.route(groups)
        rollouts = [p for gp in plans for p in gp.rollouts]
        n_failed = sum(t.failed for g in groups for t in g)
        m: dict[str, float] = {}
        n_groups = max(len(plans), 1)
        routes = Counter(gp.route for gp in plans)
        for r in ROUTES:
            if routes[r] or r in ("tau", "solve_none", "few_correct", "all_correct"):
                m[f"route/{r}"] = routes[r] / n_groups
        m.update({"groups/kept": float(len(plans)), "groups/dropped": float(dropped),
                  "rollouts/failed": float(n_failed)})
        if rollouts:
            m["reward/mean"] = sum(p.traj.reward for p in rollouts) / len(rollouts)

        # 2. teacher hidden states for every self-conditioned rollout
        t0 = time.perf_counter()
        sc_plans = [p for p in rollouts if p.sc and p.traj.num_agent_tokens > 0]
        teacher: dict[int, torch.Tensor] = {}
        t_stats = {"forwards": 0, "prefixes": 0, "tokens": 0}
        if sc_plans:
            prompt = TeacherPrompt(self.fmt, self.policy, cfg.sc.tau_render, cfg.sc.tau_max_tokens)
            with self._eval():
                hidden, t_stats = teacher_hidden_states(
                    self.scorer, prompt, None, [TeacherJob(p.traj, p.reference, p.verified) for p in sc_plans],
                    token_budget=cfg.micro_batch_tokens, share_prefix_cache=cfg.sc.share_prefix_cache,
                    device=self.device, autocast=self._autocast, sync=self._sync)
            teacher = {id(p): h for p, h in zip(sc_plans, hidden)}
        elif self.sc:
            self._pad_forwards(self._sync(0))
        m.update({"teacher/prefixes": float(t_stats["prefixes"]), "teacher/tokens": float(t_stats["tokens"])})
        if self.sc:
            m.update({f"teacher/{k}": float(t_stats.get(k, 0.0)) for k in ("tau_tokens", "tau_cut",
                                                                            "tau_cut_tokens")})
        m["time/teacher_s"] = time.perf_counter() - t0

        # 3. solve-none advantages (and π_old when several updates share this batch). D is fixed for the step
        # -- taken once, here, with the step's starting weights for teacher and student -- when several
        # updates share the batch (so every D of a rollout comes from one parameter version) or c is taken
        # over the whole step; else it is computed in the (only) update's forward, from the same weights (except
        # the solve-none rollouts', known from this pass already).
        t0 = time.perf_counter()
        fixed_d = self.sc and (cfg.updates_per_batch > 1 or cfg.sc.c_scope == "step")
        need = [p for gp in plans if gp.route == "solve_none" for p in gp.rollouts if not p.excluded]
        if fixed_d:
            seen = {id(p) for p in need}
            need += [p for p in sc_plans if id(p) not in seen]
        if cfg.updates_per_batch > 1:
            need = [p for p in rollouts if not p.excluded]
        need = [p for p in need if p.traj.num_agent_tokens > 0]
        scored = self._score(need, teacher) if (self.sc or cfg.updates_per_batch > 1) else {}
        kept = self._kept(rollouts)
        self._solve_none_advantages(plans, scored, kept)
        old = {k: s.logp for k, s in scored.items()} if cfg.updates_per_batch > 1 else None
        # D known before the update: every self-conditioned rollout's when fixed, else the solve-none ones' (their
        # no-gradient pass ran on the update's weights), so the update projects no teacher for those rows
        d_known = {id(p): scored[id(p)].kl for p in sc_plans if id(p) in scored}
        step_c = None
        if self.sc and cfg.sc.c_scope == "step":
            d_step = dist_utils.all_gather_cat(torch.cat([_masked(d_known[id(p)].cpu(), kept, p)
                                                          for p in sc_plans]) if sc_plans else torch.zeros(0))
            step_c = percentile_c(d_step, cfg.sc.percentile, cfg.sc.c_min)
        m["time/score_s"] = time.perf_counter() - t0

        # 4. updates
        t0 = time.perf_counter()
        u = cfg.updates_per_batch
        parts = [rollouts[i * len(rollouts) // u:(i + 1) * len(rollouts) // u] for i in range(u)]
        acc = Counter()
        d_all, w_all, cs = [], [], []
        for part in parts:
            self._update(part, teacher, old, acc, d_all, w_all, cs, d_known, step_c, kept)
        m["time/update_s"] = time.perf_counter() - t0
        tok = max(acc["tokens"], 1.0)
        m.update({"loss": acc["loss"], "grad_norm": acc["grad_norm"] / u, "pg_clipfrac": acc["clipped"] / tok,
                  "entropy": acc["entropy"] / tok, "tokens/agent": acc["agent_tokens"],
                  "tokens/forward": acc["tokens"], "adv/abs_mean": acc["abs_adv"] / tok})
        if self.sc:
            d = torch.cat(d_all) if d_all else torch.zeros(0)
            for q, v in zip((25, 50, 75, 95), _quantiles(d, (0.25, 0.5, 0.75, 0.95))):
                m[f"sc/D_p{q}"] = v
            m["sc/weight_mean"] = float(torch.cat(w_all).mean()) if w_all else 0.0
            m["sc/c_mean"] = sum(cs) / len(cs) if cs else 0.0
            m["sc/active_tokens"] = float(d.numel())
        m["time/step_s"] = time.perf_counter() - t_start
        return m

    def _kept(self, rollouts: Sequence[RolloutPlan]) -> dict[int, torch.Tensor] | None:
        """Async training: per rollout plan, which agent tokens stay (bool, CPU) after dropping those sampled
        more than ``max_staleness`` versions before this step's weights (version ``step_count - 1``); ``None``
        when no bound is set. Dropped tokens count nowhere: not in c, s_i or the loss's denominators."""
        if self.max_staleness is None:
            return None
        return {id(p): stale_keep([p], self.step_count - 1, self.max_staleness).bool() for p in rollouts}

    def _solve_none_advantages(self, plans: list[GroupPlan], scored: dict[int, TokenScores],
                               kept: dict[int, torch.Tensor] | None = None) -> None:
        sn = [gp for gp in plans if gp.route == "solve_none"]
        if not sn:
            return
        sc = self.cfg.sc
        batch_c = None
        if sc.diversity_c == "solve_none":  # c over every solve-none rollout of the step
            d = [_masked(scored[id(p)].kl, kept, p) for gp in sn for p in gp.rollouts
                 if not p.excluded and id(p) in scored]
            batch_c = percentile_c(torch.cat(d) if d else torch.zeros(0), sc.percentile, sc.c_min)
        for gp in sn:
            others = [p for p in gp.rollouts if not p.excluded]
            d = [scored[id(p)].kl if id(p) in scored else torch.zeros(0) for p in others]
            keep = None if kept is None else [kept[id(p)] if id(p) in scored else torch.zeros(0, dtype=torch.bool)
                                              for p in others]
            c = batch_c if batch_c is not None else percentile_c(
                torch.cat([_masked(x, kept, p) for x, p in zip(d, others)]), sc.percentile, sc.c_min)
            ref_len = gp.rollouts[gp.reference_index].traj.num_agent_tokens
            for p, a in zip(others, diversity_advantages(d, ref_len, alpha=sc.alpha, c=c, eps=self.cfg.adv_eps,
                                                         unbiased=self.cfg.adv_std_unbiased, keep=keep)):
                p.advantage = a

    def _update(self, part: list[RolloutPlan], teacher: dict[int, torch.Tensor],
                old: dict[int, torch.Tensor] | None, acc: Counter, d_all: list, w_all: list, cs: list,
                d_known: dict[int, torch.Tensor] | None = None, step_c: float | None = None,
                kept: dict[int, torch.Tensor] | None = None) -> None:
        """One optimizer step on the rollouts ``part`` (micro-batched, gradients accumulated).

        ``d_known`` holds D of the self-conditioned rollouts whose D was taken before the updates (the forward
        computes no KL for them; the others' D comes from the forward, outside autograd); ``step_c`` is c over
        the whole step (``sc.c_scope=step``); ``kept`` the tokens async training keeps (:meth:`_kept`): the
        others are out of c and of the denominators (a rollout with none left is not counted in S)."""
        cfg, ws = self.cfg, dist_utils.world_size()
        counts = {id(p): (p.traj.num_agent_tokens if kept is None else int(kept[id(p)].sum())) for p in part}
        gone = sum(1 for p in part if p.traj.num_agent_tokens and not counts[id(p)])  # all its tokens dropped
        num_seqs, num_tokens = dist_utils.all_sum(
            [float(len(part) - gone), float(sum(counts.values()))], self.device)
        # rollouts whose loss is exactly 0 are not run: the reference o_r, and plain ones with advantage 0
        train = [p for p in part if p.traj.num_agent_tokens > 0 and not p.excluded and (p.sc or p.advantage != 0)]
        batches = pack_by_tokens([len(p.traj.token_ids) for p in train], cfg.micro_batch_tokens)
        target = self._sync(len(batches))
        loss_sum = 0.0
        for batch in batches:
            mb = [train[i] for i in batch]
            x, kw, lengths = self._batch(mb, teacher, skip=d_known)
            with self._autocast():
                s = self.scorer(x, **kw)
            kl = self._known_kl(mb, lengths, s.kl, d_known)
            adv = torch.cat([torch.full((n,), p.advantage) for p, n in zip(mb, lengths)]).to(self.device)
            active = torch.cat([torch.full((n,), p.sc, dtype=torch.bool) for p, n in zip(mb, lengths)])
            keep = torch.cat([kept[id(p)] for p in mb]).to(self.device) if kept is not None else None
            active = active.to(self.device) if keep is None else active.to(self.device) & keep
            weights = torch.ones_like(kl)
            if active.any():
                if step_c is not None:
                    c = step_c
                    weights[active] = f_weight(kl[active], c)
                else:
                    weights, c = sc_token_weights(kl, active, percentile=cfg.sc.percentile, c_min=cfg.sc.c_min)
                d_all.append(kl[active].detach().cpu())
                w_all.append(weights[active].detach().cpu())
                cs.append(c)
            old_logp = (torch.cat([old[id(p)] for p in mb]).to(self.device) if old is not None
                        else s.logp.detach())
            tis = None
            if cfg.tis_cap is not None:
                rollout_lp = torch.tensor([p.traj.logprobs[t] for p in mb for t in agent_positions(p.traj)],
                                          dtype=torch.float32, device=self.device)
                tis = truncated_is(old_logp, rollout_lp, cfg.tis_cap)
            if keep is not None:  # dropped tokens: no gradient
                tis = keep.float() if tis is None else tis * keep
            scale = row_scales(lengths, cfg.loss_agg, int(num_seqs), int(num_tokens), self.device,
                               counts=[counts[id(p)] for p in mb])
            out = policy_loss(s.logp, old_logp, adv, weights, clip_low=cfg.clip_low, clip_high=cfg.clip_high,
                              row_scale=scale, tis=tis)
            (out.loss * ws).backward()
            loss_sum += float(out.loss.detach())
            acc["tokens"] += float(s.logp.numel())
            acc["clipped"] += float(out.clipped.sum())
            acc["entropy"] += float(s.entropy.sum())
            acc["abs_adv"] += float(adv.abs().sum())
        self._pad_forwards(target - len(batches), grad=True)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.scorer.parameters(), cfg.max_grad_norm)
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        acc["grad_norm"] += float(grad_norm)
        acc["loss"] += dist_utils.all_sum([loss_sum], self.device)[0]
        acc["agent_tokens"] += num_tokens

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The model's full state dict on CPU (gathered from all ranks under FSDP2; rank 0 holds it)."""
        full = dist_utils.full_state_dict(self.scorer)
        return {k.removeprefix("model."): v for k, v in full.items()}
