"""The tiny model's warm start in the self-teacher's format: the exact teacher prompt, both guides, and a
model that learns to read the hint (D small where it would otherwise scramble the distribution)."""

from __future__ import annotations

import torch

from agentrl.bpe import train_bpe_tokenizer
from agentrl.chat import ChatFormat, builtin_template
from agentrl.config.compose import load_config
from agentrl.learner.logprobs import TokenScorer
from agentrl.learner.reference import TeacherPrompt
from agentrl.learner.teacher import TeacherJob, teacher_hidden_states
from agentrl.models import tiny_qwen3
from agentrl.registry import make
from agentrl.tiny import _demo_trajectory, _render_episode, _supervised, oracle_demonstrations, reference_examples
from policies import make as make_policy


def _setup(n: int = 40):
    cfg = load_config(["env=math_warmup", "model.tiny.sft_reference=1.0", "env.kwargs.n_train=60",
                      "env.kwargs.n_test=10"])
    env = make(cfg.env.id, **cfg.env.kwargs)
    policy = make_policy("default", env=env)
    tasks = list(env.task_ids("train"))[:n]
    clean = oracle_demonstrations(env, policy, tasks, 0.0, 0)
    corpus = [policy.system(), policy.guide, policy.guide_unverified, "Task: Step 1 reply: observation: Correct."]
    corpus += [m for ep in clean for pair in ep for m in pair]
    tok = train_bpe_tokenizer(corpus * 3, vocab_size=400, chat_template=builtin_template("tiny"), eos_token="<|end|>")
    return cfg, env, policy, tasks, clean, ChatFormat(tok, name="tiny")


def test_reference_examples_use_the_learners_teacher_prompt_with_both_guides():
    cfg, env, policy, tasks, clean, fmt = _setup(6)
    examples = reference_examples(env, policy, fmt, tasks, cfg=cfg, seed=3)
    assert len(examples) == 2 * len(tasks)
    prompt = TeacherPrompt(fmt, policy, cfg.algo.sc.tau_render, cfg.algo.sc.tau_max_tokens)
    final: list = []
    demo = oracle_demonstrations(env, policy, tasks[:1], 0.0, 3, final=final)
    want = prompt.system_ids(_demo_trajectory(fmt, policy, demo[0], final[0][0]), verified=True)
    ids, mask = examples[0]
    assert ids[:len(want)] == want and not any(mask[:len(want)])            # the teacher's system, verbatim
    verified = fmt.tokenizer.decode(ids[:len(want)])
    assert policy.guide.strip() in verified and "Step 1 observation: Correct." in verified
    unverified = fmt.tokenizer.decode(examples[1][0])
    assert policy.guide_unverified.strip() in unverified and "Incorrect" in unverified   # a wrong o_r, marked
    # the reply trained on is the clean answer in both
    for ids, mask in examples[:2]:
        reply = fmt.tokenizer.decode([i for i, m in zip(ids, mask) if m], skip_special_tokens=True)
        assert reply.strip() == clean[0][0][1].strip()


def _mean_d(model, fmt, policy, env, tasks):
    final: list = []
    demos = oracle_demonstrations(env, policy, tasks, 0.0, 7, final=final)
    trajs = [_demo_trajectory(fmt, policy, d, f[0]) for d, f in zip(demos, final)]
    scorer = TokenScorer(model).eval()
    prompt = TeacherPrompt(fmt, policy)
    ds = []
    with torch.no_grad():
        hidden, _ = teacher_hidden_states(scorer, prompt, None, [TeacherJob(t, t) for t in trajs],
                                          token_budget=100_000)
        for t, h in zip(trajs, hidden):
            pos = [i for i, m in enumerate(t.loss_mask) if m]
            s = scorer(torch.tensor([t.token_ids]), torch.tensor([i - 1 for i in pos]),
                       targets=torch.tensor([t.token_ids[i] for i in pos]), teacher_hidden=h,
                       teacher_rows=torch.arange(len(pos)))
            ds.append(s.kl)
    return float(torch.cat(ds).median())


def test_teacher_format_warm_start_teaches_reading_the_hint():
    cfg, env, policy, tasks, clean, fmt = _setup(24)
    plain = [_render_episode(fmt, policy, ep) for ep in clean]
    with_ref = plain + reference_examples(env, policy, fmt, tasks, cfg=cfg, seed=3)

    def trained(examples):
        model = tiny_qwen3(len(fmt.tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=0)
        _supervised(model, examples, epochs=20, seed=0, lr=1e-2, schedule="cosine", log=lambda _: None)
        return model

    d_plain = _mean_d(trained(plain), fmt, policy, env, tasks)
    d_ref = _mean_d(trained(with_ref), fmt, policy, env, tasks)
    assert d_ref < 0.25 * d_plain, (d_ref, d_plain)
