"""LoRA (model.lora.*, agentrl/lora.py): adapter-only training, the merged export, the local backend sampling
from the adapted model, and a LoRA run that resumes exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from tests.test_trainer import _overrides as trainer_overrides, assert_resume_reproduces
from agentrl.checkpoint import check_checkpoint, latest_checkpoint
from agentrl.config.schema import AlgoConfig, LoraConfig
from agentrl.learner import Learner
from agentrl.learner.logprobs import TokenScorer, lm_parts
from agentrl.lora import ADAPTER_DIR, apply_lora, is_lora, load_plan, save_model
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import SamplingParams
from agentrl.rollout.backends.local import LocalBackend
from tests.learner_fixtures import fmt, policy  # noqa: F401 - fixtures
from tests.learner_utils import make_group

LORA = LoraConfig(enabled=True, rank=4, alpha=8.0)


def _adapted(vocab: int, seed: int = 2):
    return apply_lora(tiny_qwen3(vocab, hidden_size=32, num_layers=2, intermediate_size=64, seed=seed), LORA)


def _trained(model, fmt, policy, steps: int = 2) -> Learner:  # noqa: F811
    learner = Learner(model, fmt, policy, AlgoConfig(name="grpo", lr=1e-2))
    for k in range(steps):
        learner.step([make_group(fmt, policy, f"t{k}", [0.0, 1.0, 0.0, 1.0], seed=k, vocab=len(fmt.tokenizer))])
    return learner


def test_a_learner_step_trains_the_adapters_only(fmt, policy):  # noqa: F811
    model = _adapted(len(fmt.tokenizer))
    decoder, head = lm_parts(model)  # found through the peft wrapper: the base's, with adapters in place
    assert type(decoder).__name__ == "Qwen3Model" and any("lora_A" in n for n, _ in decoder.named_parameters())
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert adapters and all("lora_" in n for n in adapters) and head.weight.requires_grad is False
    learner = _trained(model, fmt, policy)
    held = {id(p) for g in learner.optimizer.param_groups for p in g["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad} and len(held) == len(adapters)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())  # bit-identical base
    changed = [n for n, v in adapters.items() if not torch.equal(after[n], v)]
    assert len(changed) == len(adapters), sorted(set(adapters) - set(changed))[:3]


def test_bad_target_modules_are_one_clear_error():
    with pytest.raises(ValueError, match=r"model.lora.target_modules=\['qkv'\].*accepted: 'all-linear'"):
        apply_lora(tiny_qwen3(64), LoraConfig(enabled=True, target_modules=["qkv"]))
    plain = tiny_qwen3(64)
    assert apply_lora(plain, LoraConfig()) is plain  # off by default


def test_merged_export_is_a_plain_model_with_the_adapted_logits(fmt, policy, tmp_path):  # noqa: F811
    from transformers import AutoModelForCausalLM

    model = _adapted(len(fmt.tokenizer))
    _trained(model, fmt, policy)
    model.eval()
    save_model(model, tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert check_checkpoint(tmp_path) == "trainer_state.pt is missing"  # the adapter files pass the checks
    plain = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert not is_lora(plain) and not any("lora" in n for n, _ in plain.named_parameters())
    ids = torch.randint(3, len(fmt.tokenizer), (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = model(ids).logits, plain(ids).logits
        base = model.get_base_model()
        with model.disable_adapter():
            unadapted = base(ids).logits
    assert (want - unadapted).abs().max() > 1e-3  # the adapters matter
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()
    assert is_lora(model) and any("lora_A" in n for n, _ in model.named_parameters())  # merged a copy only
    # a broken adapter file makes the checkpoint check name it
    (tmp_path / ADAPTER_DIR / "adapter_model.safetensors").write_bytes(b"\x00" * 4)
    assert "adapter/adapter_model.safetensors is truncated" in check_checkpoint(tmp_path)


def test_local_backend_samples_the_adapted_model_after_an_update(fmt, policy):  # noqa: F811
    """The backend holds the learner's very module: after a step and ``update_weights()`` its log-probs are
    the learner's own recomputation (TokenScorer) of the same tokens, and differ from the base model's."""
    model = _adapted(len(fmt.tokenizer))
    backend = LocalBackend(model, tokenizer=fmt.tokenizer)
    loop = asyncio.new_event_loop()
    prompt, sp = [5, 9, 17, 30, 41, 8], SamplingParams(max_new_tokens=12, seed=4)
    try:
        before = loop.run_until_complete(backend.generate(prompt, sp))
        _trained(model, fmt, policy)
        assert loop.run_until_complete(backend.update_weights()) == 1
        got = loop.run_until_complete(backend.generate(prompt, sp))
    finally:
        loop.run_until_complete(backend.close())
        loop.close()
    model.eval()
    seq = torch.tensor([prompt + got.ids])
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(got.ids))
    with torch.no_grad():
        learner_lps = TokenScorer(model)(seq, rows, targets=torch.tensor(got.ids)).logp.tolist()
        with model.disable_adapter():
            base_lps = TokenScorer(model)(seq, rows, targets=torch.tensor(got.ids)).logp.tolist()
    assert max(abs(a - b) for a, b in zip(learner_lps, got.logprobs)) < 1e-4
    assert max(abs(a - b) for a, b in zip(base_lps, got.logprobs)) > 1e-3  # it is the adapted model sampling
    assert got.logprobs != before.logprobs


def _fsdp_worker(tmp_path: Path, world: int) -> dict:
    import subprocess
    import sys

    out = tmp_path / f"lora{world}.pt"
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "learner_fsdp_worker.py"), str(out),
                           str(world), "lora"], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.timeout(3200)
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_process_fsdp2_with_lora_matches_one_process(tmp_path):
    """FSDP2 (gloo) shards blocks holding frozen base weights and trainable adapters: one SC-GRPO step on two
    ranks gives one process's loss, gradient norm and parameters; the base weights do not move."""
    one, two = _fsdp_worker(tmp_path, 1), _fsdp_worker(tmp_path, 2)
    m1, m2 = one["metrics"], two["metrics"]
    assert m2["loss"] == pytest.approx(m1["loss"], rel=1e-5, abs=1e-8)
    assert m2["grad_norm"] == pytest.approx(m1["grad_norm"], rel=1e-5) and m1["grad_norm"] > 0
    assert one["params"].keys() == two["params"].keys()
    assert any("lora_B" in k for k in one["params"])
    for k, v in one["params"].items():
        assert torch.allclose(two["params"][k], v, atol=1e-6, rtol=1e-5), (k, (two["params"][k] - v).abs().max())
    start = _fsdp_start()
    moved = {k for k, v in start.items() if not torch.equal(one["params"][k], v)}
    assert moved and all("lora_B" in k for k in moved)  # B starts at 0, so only B gets a gradient at step 1


def _fsdp_start() -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from learner_fsdp_worker import build

    model = apply_lora(build()[2], LoraConfig(enabled=True, rank=4, alpha=8.0), seed=3)
    return {k.removeprefix("model."): v for k, v in TokenScorer(model).state_dict().items()}


# ---------------------------------------------------------------- whole runs (agentrl.train)
@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agentrl-cache")


LORA_RUN = ("model.lora.enabled=true", "model.lora.rank=4", "algo.lr=1e-3")


def _overrides(cache: Path, out: Path, *extra: str) -> list[str]:
    """test_trainer's small guess run, with LoRA on."""
    return trainer_overrides(cache, out, *LORA_RUN, *extra)


def test_a_lora_run_resumes_exactly_and_its_checkpoint_loads_as_a_plain_model(tiny_cache, tmp_path):
    """sc_grpo (the teacher is the same adapted model): 4 steps in one go equal 2 + 2 resumed from the
    adapters; the checkpoint is a plain transformers directory (merged) plus ``adapter/``."""
    from agentrl.components import build_components
    from agentrl.config import load_config

    full = assert_resume_reproduces(tiny_cache, tmp_path, *LORA_RUN)
    ckpt = latest_checkpoint(full)
    assert ckpt is not None and (ckpt / ADAPTER_DIR / "adapter_config.json").is_file()
    base, adapters = load_plan(str(ckpt), LORA)
    assert adapters == ckpt / ADAPTER_DIR and Path(base).is_dir() and "checkpoints" not in base
    from safetensors import safe_open

    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)["optimizer"]["state"]
    with safe_open(ckpt / ADAPTER_DIR / "adapter_model.safetensors", "pt") as f:
        assert len(state) == len(list(f.keys())) == 2 * 7 * 2  # AdamW moments of the adapters alone
    # the run's checkpoint through agentrl.eval's loader (LoRA off): the merged weights, the adapted logits
    cfg = load_config(_overrides(tiny_cache, tmp_path, "model.lora.enabled=false"))
    plain = build_components(cfg, log=lambda m: None, model_dir=str(ckpt)).model
    cfg_lora = load_config(_overrides(tiny_cache, tmp_path))
    adapted = build_components(cfg_lora, log=lambda m: None, model_dir=str(ckpt)).model
    assert not is_lora(plain) and is_lora(adapted)
    ids = torch.randint(3, plain.config.vocab_size, (1, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, adapted(ids).logits, atol=1e-5, rtol=0)
