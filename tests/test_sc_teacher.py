"""What the self-teacher is shown (τ as the model wrote it, cut to a budget; the unverified guide for the
solve-none reference) and which weights give D (one parameter version per step; c over the step)."""

from __future__ import annotations

import copy

import pytest
import torch
from learner_fixtures import d_direct, spy_sc_weights
from learner_utils import make_group

import agentrl.learner.learner as learner_mod
from agentrl.chat import ChatFormat
from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.learner.reference import TeacherPrompt, render_tau
from agentrl.learner.teacher import teacher_input_ids
from agentrl.models import tiny_qwen3
from agentrl.trajectory import Trajectory
from policies.answer import AnswerPolicy
from policies.base import Policy

REASONING = "<think>\nLet me reason about it carefully.\n</think>\n\nThe result is 42."


@pytest.fixture(scope="module")
def fmt(bpe_tokenizer):
    return ChatFormat(bpe_tokenizer, chat_template="tiny")


def reasoned_rollout(fmt: ChatFormat, policy: Policy, task_id: str = "t", reward: float = 1.0) -> Trajectory:
    """A single-turn rollout whose sampled ids spell a reasoning block and then a boxed answer."""
    t = Trajectory.start(fmt, task_id, "What is 6 times 7?", system=policy.system())
    ids = fmt.encode(REASONING + " \\boxed{42}") + fmt.stop_token_ids[:1]
    turn = t.add_generation(ids, [-0.1] * len(ids), text="(backend text)")
    turn.action, turn.observation = policy.parse_action(REASONING + " \\boxed{42}"), None
    t.close_turn(fmt)
    t.reward, t.success = reward, reward >= 1
    return t


def test_teacher_input_holds_the_reasoning_the_rollout_sampled(fmt):
    policy = AnswerPolicy()
    tau, rollout = reasoned_rollout(fmt, policy), reasoned_rollout(fmt, policy, reward=0.0)
    ids = teacher_input_ids(fmt, policy, rollout, tau)
    system_text = fmt.tokenizer.decode(ids[:len(ids) - len(rollout.token_ids) + rollout.system_len])
    assert "Let me reason about it carefully." in system_text and "<think>" in system_text
    assert "\\boxed{42}" in system_text and "(backend text)" not in system_text
    eos = fmt.tokenizer.convert_ids_to_tokens(fmt.stop_token_ids[0])
    assert system_text.count(eos) == fmt.tokenizer.decode(fmt.system_ids("S")).count(eos)  # specials dropped
    # the ablation shows only the parsed action
    actions = teacher_input_ids(fmt, policy, rollout, tau, tau_render="actions")
    actions_system = fmt.tokenizer.decode(actions[:len(actions) - len(rollout.token_ids) + rollout.system_len])
    assert "Let me reason" not in actions_system and "Step 1 reply: \\boxed{42}" in actions_system


def test_the_learner_shows_the_teacher_the_sampled_reasoning(fmt, monkeypatch):
    policy = AnswerPolicy()
    seen = []
    real = learner_mod.teacher_hidden_states

    def spy(scorer, prompt, pol, jobs, **kw):
        seen.extend(fmt.tokenizer.decode(prompt.system_ids(j.reference, j.verified)) for j in jobs)
        return real(scorer, prompt, pol, jobs, **kw)

    monkeypatch.setattr(learner_mod, "teacher_hidden_states", spy)
    model = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=1, intermediate_size=64, seed=0)
    group = [reasoned_rollout(fmt, policy, reward=r) for r in (1.0, 1.0, 0.0, 0.0)]
    m = Learner(model, fmt, policy, AlgoConfig(name="sc_grpo", lr=1e-3)).step([group])
    assert m["route/tau"] == 1.0 and len(seen) == 4
    assert all("Let me reason about it carefully." in s for s in seen)
    assert m["teacher/tau_tokens"] > len(fmt.encode(REASONING)) and m["teacher/tau_cut"] == 0.0


def multi_turn(fmt: ChatFormat, policy: Policy, turns: int) -> Trajectory:
    t = Trajectory.start(fmt, "g", "I am thinking of an integer between 1 and 32.", system=policy.system())
    for k in range(turns):
        ids = fmt.encode(f"I guess guess[{k + 1}]")
        turn = t.add_generation(ids, [0.0] * len(ids))
        turn.action, turn.observation = f"guess[{k + 1}]", f"{k + 1} is wrong; the number is higher."
        t.add_message(fmt, turn.observation)
    return t


def test_a_long_tau_keeps_the_task_and_the_last_turns_and_marks_the_cut(fmt):
    policy = Policy()
    t = multi_turn(fmt, policy, 12)
    full = render_tau(fmt, policy, t)
    assert not full.cut and "Step 1 reply: I guess guess[1]" in full.text
    cut = render_tau(fmt, policy, t, max_tokens=full.tokens // 2)
    assert cut.cut and cut.tokens <= full.tokens // 2 and cut.full_tokens == full.tokens
    lines = cut.text.splitlines()
    assert lines[0] == "Task: I am thinking of an integer between 1 and 32."
    assert lines[1].startswith("[... ") and "earlier steps omitted" in lines[1]
    assert lines[-1] == "Step 12 observation: 12 is wrong; the number is higher."
    assert "Step 1 reply" not in cut.text
    # even a budget below one turn keeps the task and the end of the last reply
    last = policy.render_reference(t.first_observation, [("...", t.turns[-1].observation)], omitted=11)
    budget = len(fmt.encode(last)) + 3
    tiny = render_tau(fmt, policy, t, max_tokens=budget)
    assert tiny.text.startswith("Task: I am thinking") and "11 earlier steps omitted" in tiny.text and tiny.cut
    reply = next(x for x in tiny.text.splitlines() if x.startswith("Step 12 reply: ..."))
    tail = reply.removeprefix("Step 12 reply: ...")
    assert tail and "I guess guess[12]".endswith(tail) and tiny.tokens <= budget  # the end of the last reply
    prompt = TeacherPrompt(fmt, policy, max_tokens=full.tokens // 2)
    prompt.system_ids(t)
    assert prompt.stats()["tau_cut"] == 1.0 and 0 < prompt.stats()["tau_cut_tokens"] < 1


def test_the_solve_none_reference_is_not_called_verified(fmt, monkeypatch):
    policy = Policy(system_prompt="SYS")
    seen = []
    real = learner_mod.teacher_hidden_states

    def spy(scorer, prompt, pol, jobs, **kw):
        seen.extend((j.verified, fmt.tokenizer.decode(prompt.system_ids(j.reference, j.verified))) for j in jobs)
        return real(scorer, prompt, pol, jobs, **kw)

    monkeypatch.setattr(learner_mod, "teacher_hidden_states", spy)
    model = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=1, intermediate_size=64, seed=0)
    group = make_group(fmt, policy, "sn", [0, 0, 0, 0], seed=3, vocab=len(fmt.tokenizer))
    m = Learner(model, fmt, policy, AlgoConfig(name="sc_grpo")).step([group])
    assert m["route/solve_none"] == 1.0 and len(seen) == 3
    for verified, text in seen:
        assert not verified and policy.guide_unverified.strip() in text and policy.guide.strip() not in text


def test_several_updates_share_one_teacher_the_steps_starting_weights(fmt, monkeypatch):
    policy = Policy(system_prompt="You are a helpful assistant.")
    model = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=2,
                       initializer_range=0.1)
    frozen = copy.deepcopy(model)
    groups = [make_group(fmt, policy, k, [1, 0, 1, 0, 1, 0], seed=s, vocab=len(fmt.tokenizer))
              for s, k in enumerate("ab")]
    used = spy_sc_weights(monkeypatch)
    learner = Learner(model, fmt, policy, AlgoConfig(name="sc_grpo", lr=5e-2, updates_per_batch=2,
                                                     micro_batch_tokens=100_000))
    learner.step(groups)
    probe = Learner(copy.deepcopy(frozen), fmt, policy, learner.cfg)
    probe.step_count = 1
    plans = [p for gp in probe.route(groups)[0] for p in gp.rollouts]
    want = d_direct(frozen, fmt, policy, plans)
    got = torch.cat(used)
    assert len(used) == 2 and got.numel() == want.numel()       # one micro-batch in each of the two updates
    assert torch.allclose(got.sort().values, want.sort().values, atol=1e-5, rtol=1e-4)
    # and the weights did move between the updates, so a D from the moved weights would differ
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(model.parameters(), frozen.parameters()))


@pytest.mark.parametrize("scope", ["micro_batch", "step"])
def test_c_over_the_step_makes_the_update_independent_of_micro_batching(fmt, scope):
    policy = Policy(system_prompt="You are a helpful assistant.")
    base = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=2,
                      initializer_range=0.1)
    groups = [make_group(fmt, policy, k, [1, 0, 1, 0, 0, 1], seed=s, vocab=len(fmt.tokenizer))
              for s, k in enumerate("abc")]

    def update(tokens):
        model = copy.deepcopy(base)
        cfg = AlgoConfig(name="sc_grpo", micro_batch_tokens=tokens, sc={"c_scope": scope})
        m = Learner(model, fmt, policy, cfg, optimizer=torch.optim.SGD(model.parameters(), lr=1.0)).step(groups)
        return m, torch.cat([(a - b).flatten() for a, b in zip(base.parameters(), model.parameters())])

    m_small, g_small = update(120)
    m_big, g_big = update(100_000)
    rel = float((g_small - g_big).norm() / g_big.norm())
    if scope == "step":
        assert rel < 1e-4 and m_small["sc/c_mean"] == pytest.approx(m_big["sc/c_mean"], rel=1e-5)
    else:  # the paper's rule: c per micro-batch, so splitting the batch changes the update
        assert rel > 1e-3 and m_small["sc/c_mean"] != pytest.approx(m_big["sc/c_mean"], rel=1e-3)


@pytest.mark.parametrize("budget", [60, 30, 16])
def test_tau_never_exceeds_its_budget_even_when_the_task_alone_does(fmt, budget):
    policy = Policy()
    task = " ".join(f"The shelf number {k} holds a red box and a blue jar." for k in range(8))
    t = Trajectory.start(fmt, "long", task, system=policy.system())
    ids = fmt.encode("I guess guess[3] because the boxes are red.")
    turn = t.add_generation(ids, [0.0] * len(ids))
    turn.action, turn.observation = "guess[3]", "3 is wrong; the number is higher."
    t.close_turn(fmt)
    assert len(fmt.encode(f"Task: {task}")) > 60  # the task alone is over every budget here
    tau = render_tau(fmt, policy, t, max_tokens=budget)
    assert tau.cut and tau.tokens <= budget and len(fmt.encode(tau.text)) == tau.tokens
    assert tau.text.startswith("Task: The shelf number 0") and "[..." in tau.text  # the task's start, marked
    prompt = TeacherPrompt(fmt, policy, max_tokens=budget)
    assert prompt.tau(t).tokens <= budget and prompt.stats()["tau_cut"] == 1.0


@pytest.mark.parametrize("scope", ["group", "solve_none"])
def test_diversity_c_is_taken_over_what_its_name_says(fmt, monkeypatch, scope):
    from agentrl.learner.advantages import percentile_c

    policy = Policy(system_prompt="You are a helpful assistant.")
    model = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=2,
                       initializer_range=0.1)
    v = len(fmt.tokenizer)
    groups = [make_group(fmt, policy, "a", [1, 0, 1, 0, 0], seed=1, vocab=v),      # tau
              make_group(fmt, policy, "b", [0, 0, 0, 0, 0], seed=2, vocab=v),      # solve-none
              make_group(fmt, policy, "c", [0, 0, 0, 0], seed=3, vocab=v)]         # solve-none
    used = []
    real = learner_mod.diversity_advantages

    def spy(d, ref_len, **kw):
        used.append(kw["c"])
        return real(d, ref_len, **kw)

    monkeypatch.setattr(learner_mod, "diversity_advantages", spy)
    cfg = AlgoConfig(name="sc_grpo", sc={"diversity_c": scope})
    Learner(copy.deepcopy(model), fmt, policy, cfg).step(groups)
    probe = Learner(copy.deepcopy(model), fmt, policy, cfg)
    probe.step_count = 1
    plans = probe.route(groups)[0]
    d = {gp.route + str(i): d_direct(model, fmt, policy, gp.rollouts) for i, gp in enumerate(plans)}
    p = cfg.sc.percentile
    group_c = [percentile_c(d["solve_none1"], p, 1e-4), percentile_c(d["solve_none2"], p, 1e-4)]
    solve_none_c = percentile_c(torch.cat([d["solve_none1"], d["solve_none2"]]), p, 1e-4)
    all_c = percentile_c(torch.cat(list(d.values())), p, 1e-4)
    assert len({round(c, 4) for c in (*group_c, solve_none_c, all_c)}) == 4  # the scopes are told apart
    want = group_c if scope == "group" else [solve_none_c] * 2
    assert used == pytest.approx(want, rel=1e-4)


def test_diversity_c_names_its_choices():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'group' or 'solve_none'"):
        AlgoConfig(name="sc_grpo", sc={"diversity_c": "batch"})
    assert "solve-none" in AlgoConfig.model_fields["sc"].annotation.model_fields["diversity_c"].description
