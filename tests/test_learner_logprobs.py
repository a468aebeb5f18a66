"""Chunked log-probs, entropy and KL(teacher ‖ student) against a naive full-logits computation."""

from __future__ import annotations

import pytest
import torch
from learner_utils import make_group

from agentrl.chat import ChatFormat
from agentrl.learner.logprobs import TokenScorer, token_scores
from agentrl.learner.teacher import TeacherJob, agent_positions, teacher_hidden_states, teacher_input_ids
from agentrl.models import tiny_qwen3
from policies.base import Policy


@pytest.fixture(scope="module")
def fmt(bpe_tokenizer):
    return ChatFormat(bpe_tokenizer, chat_template="tiny")


@pytest.fixture(scope="module")
def model(bpe_tokenizer):
    return tiny_qwen3(len(bpe_tokenizer), hidden_size=64, num_layers=2, seed=1)


def naive(h, w, y, ht=None, rows=None):
    logp_all = (h @ w.T).float().log_softmax(-1)
    logp = logp_all.gather(-1, y[:, None]).squeeze(-1)
    ent = -(logp_all.exp() * logp_all).sum(-1)
    kl = None
    if ht is not None:
        lq = (ht @ w.T).float().log_softmax(-1)
        kl = (lq.exp() * (lq - logp_all[rows])).sum(-1)
    return logp, ent, kl


@pytest.mark.parametrize("chunk", [3, 7, 64, 1000])
def test_chunked_scores_and_gradients_equal_naive(chunk):
    g = torch.Generator().manual_seed(0)
    n, hdim, v = 50, 16, 300
    h = torch.randn(n, hdim, generator=g, requires_grad=True)
    w = torch.randn(v, hdim, generator=g, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=g)
    rows = torch.tensor([0, 3, 4, 5, 20, 21, 49])
    ht = torch.randn(len(rows), hdim, generator=g)
    s = token_scores(h, w, y, teacher_hidden=ht, teacher_rows=rows, chunk=chunk)
    lp, ent, kl = naive(h, w, y, ht, rows)
    assert torch.allclose(s.logp, lp, atol=1e-5) and torch.allclose(s.entropy, ent.detach(), atol=1e-5)
    assert torch.allclose(s.kl[rows], kl.detach(), atol=1e-5)
    others = torch.ones(n, dtype=torch.bool)
    others[rows] = False
    assert torch.all(s.kl[others] == 0) and not s.kl.requires_grad and not s.entropy.requires_grad
    coef = torch.randn(n, generator=g)
    gh, gw = torch.autograd.grad((s.logp * coef).sum(), (h, w))
    rh, rw = torch.autograd.grad((lp * coef).sum(), (h, w))
    assert torch.allclose(gh, rh, atol=1e-5) and torch.allclose(gw, rw, atol=1e-5)


def test_scores_are_taken_at_the_sampling_temperature():
    g = torch.Generator().manual_seed(2)
    h, w = torch.randn(30, 8, generator=g), torch.randn(40, 8, generator=g)
    y, rows, ht = torch.randint(0, 40, (30,), generator=g), torch.tensor([1, 7, 29]), torch.randn(3, 8, generator=g)
    s = token_scores(h, w, y, teacher_hidden=ht, teacher_rows=rows, chunk=7, temperature=0.5)
    lp, ent, kl = naive(h / 0.5, w, y, ht / 0.5, rows)  # (h / T) @ w.T == logits / T
    assert torch.allclose(s.logp, lp, atol=1e-5) and torch.allclose(s.entropy, ent, atol=1e-5)
    assert torch.allclose(s.kl[rows], kl, atol=1e-5)
    assert not torch.allclose(s.logp, token_scores(h, w, y).logp, atol=1e-3)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        token_scores(h, w, y, temperature=0)


async def test_scorer_reproduces_the_local_backends_logprobs_at_its_temperature(model):
    from agentrl.rollout.backends import SamplingParams
    from agentrl.rollout.backends.local import LocalBackend

    backend = LocalBackend(model)
    prompt = list(range(5, 25))
    gen = await backend.generate(prompt, SamplingParams(temperature=0.6, max_new_tokens=12, seed=4))
    await backend.close()
    ids = torch.tensor([prompt + gen.ids])
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(gen.ids))
    with torch.no_grad():
        at_t = TokenScorer(model, temperature=0.6)(ids, rows, targets=torch.tensor(gen.ids)).logp
        at_1 = TokenScorer(model)(ids, rows, targets=torch.tensor(gen.ids)).logp
    assert torch.allclose(at_t, torch.tensor(gen.logprobs), atol=1e-4)
    assert not torch.allclose(at_1, torch.tensor(gen.logprobs), atol=1e-2)


def naive_d(model, fmt, policy, traj, ref):
    """D and chosen log-probs per agent token from two full forward passes with full logits."""
    with torch.no_grad():
        s_logits = model(input_ids=torch.tensor([traj.token_ids])).logits[0].float()
        t_ids = teacher_input_ids(fmt, policy, traj, ref)
        t_logits = model(input_ids=torch.tensor([t_ids])).logits[0].float()
    shift = len(t_ids) - len(traj.token_ids)
    pos = agent_positions(traj)
    ls = s_logits[[t - 1 for t in pos]].log_softmax(-1)
    lt = t_logits[[t - 1 + shift for t in pos]].log_softmax(-1)
    logp = ls.gather(-1, torch.tensor([traj.token_ids[t] for t in pos])[:, None]).squeeze(-1)
    return (lt.exp() * (lt - ls)).sum(-1), logp


def chunked_d(scorer, fmt, policy, trajs, refs, *, share, budget, chunk):
    scorer.chunk_tokens = chunk
    hidden, stats = teacher_hidden_states(scorer, fmt, policy, [TeacherJob(t, r) for t, r in zip(trajs, refs)],
                                          token_budget=budget, share_prefix_cache=share)
    out = []
    with torch.no_grad():
        for t, h in zip(trajs, hidden):
            pos = agent_positions(t)
            s = scorer(torch.tensor([t.token_ids]), torch.tensor([p - 1 for p in pos]),
                       targets=torch.tensor([t.token_ids[p] for p in pos]), teacher_hidden=h,
                       teacher_rows=torch.arange(len(pos)))
            out.append((s.kl, s.logp))
    return out, stats


@pytest.mark.parametrize("share,budget,chunk", [(True, 10_000, 5), (True, 60, 3), (True, 150, 7),
                                                (False, 10_000, 512), (False, 60, 4)])
def test_teacher_kl_with_shared_prefix_cache_equals_naive(model, fmt, share, budget, chunk):
    policy = Policy(system_prompt="You are a helpful assistant.")
    g = make_group(fmt, policy, "task-7", [1, 0, 1, 0, 0], seed=3, turns=3, gen_len=5, vocab=len(fmt.tokenizer))
    g[3].token_ids, g[3].loss_mask, g[3].logprobs = g[3].token_ids[:-9], g[3].loss_mask[:-9], g[3].logprobs[:-9]
    refs = [g[2], g[0], g[0], g[2], g[2]]  # two distinct τ, shared by several rollouts, of unequal lengths
    scorer = TokenScorer(model)
    got, stats = chunked_d(scorer, fmt, policy, g, refs, share=share, budget=budget, chunk=chunk)
    assert stats["prefixes"] == 2
    # the two τ render to teacher prefixes of different lengths: run together, the shorter one is padded
    assert len(teacher_input_ids(fmt, policy, g[0], g[2])) != len(teacher_input_ids(fmt, policy, g[0], g[0]))
    for t, r, (kl, logp) in zip(g, refs, got):
        want_kl, want_logp = naive_d(model, fmt, policy, t, r)
        assert kl.shape == want_kl.shape and torch.allclose(kl, want_kl, atol=1e-5), (kl - want_kl).abs().max()
        assert torch.allclose(logp, want_logp, atol=1e-5)
        assert want_kl.abs().max() > 1e-4, "the reference must change the teacher's distribution"


class SameContextPolicy(Policy):
    """A 'teacher' whose system prompt ignores the reference: its context equals the student's."""

    def system(self, reference=None, verified=True):
        return self.system_prompt


@pytest.mark.parametrize("share", [True, False])
def test_kl_is_zero_when_teacher_context_equals_students(model, fmt, share):
    policy = SameContextPolicy(system_prompt="You are a helpful assistant.")
    g = make_group(fmt, policy, "task-8", [1, 0, 1], seed=4, turns=2, gen_len=6, vocab=len(fmt.tokenizer))
    got, _ = chunked_d(TokenScorer(model), fmt, policy, g, [g[2], g[0], g[0]], share=share, budget=10_000, chunk=8)
    for kl, _ in got:
        assert kl.numel() > 0 and kl.abs().max() < 1e-5


def test_explicit_guide_in_config_reaches_the_teacher_prompt(model, fmt):
    from agentrl.config.schema import AlgoConfig
    from agentrl.learner import Learner

    policy = Policy(system_prompt="SYS")
    default = Learner(model, fmt, policy, AlgoConfig(name="sc_grpo"))
    assert default.policy is policy
    custom = Learner(model, fmt, policy, AlgoConfig(name="sc_grpo", sc={"guide": "Here is a solved run:\n"}))
    assert custom.policy.system("REF") == "SYS\n\nHere is a solved run:\nREF" and policy.guide == Policy.guide
