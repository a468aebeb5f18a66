"""Checkpoints visible only when complete, verified on resume with a fallback, and one trainer per run dir."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from agentrl.checkpoint import (check_checkpoint, find_resume_checkpoint, has_checkpoints, latest_checkpoint,
                                save_checkpoint, step_dirs)
from agentrl.errors import CheckpointError, NonFiniteWeightsError, RunLockedError
from agentrl.models import tiny_qwen3
from agentrl.run_lock import RunLock


@pytest.fixture(scope="module")
def parts(bpe_tokenizer):
    model = tiny_qwen3(len(bpe_tokenizer), hidden_size=32, num_layers=1, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, bpe_tokenizer, opt


def _save(run_dir, step, parts, keep=3):
    model, tok, opt = parts
    return save_checkpoint(run_dir, step, model, tok, opt, {"data_pos": step * 10}, keep=keep)


def test_saved_checkpoints_are_complete_and_latest_moves_last(tmp_path, parts):
    for step in (2, 4):
        _save(tmp_path, step, parts)
    root = tmp_path / "checkpoints"
    assert (root / "latest").read_text() == "step_0000004"
    assert [p.name for p in step_dirs(tmp_path)] == ["step_0000004", "step_0000002"]
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary left visible
    assert check_checkpoint(root / "step_0000004", load_state=True) is None


def test_a_step_is_saved_once(tmp_path, parts):
    first = _save(tmp_path, 3, parts)
    inode = (first / "model.safetensors").stat().st_ino
    again = _save(tmp_path, 3, parts)
    assert again == first and (first / "model.safetensors").stat().st_ino == inode  # not rewritten


def test_dangling_latest_falls_back_to_the_newest_intact_with_a_warning(tmp_path, parts):
    _save(tmp_path, 2, parts)
    _save(tmp_path, 4, parts)
    (tmp_path / "checkpoints" / "latest").write_text("step_0000006")  # names a checkpoint that is gone
    warnings: list[str] = []
    ckpt, state = find_resume_checkpoint(tmp_path, warnings.append)
    assert ckpt.name == "step_0000004" and state["step"] == 4 and state["data_pos"] == 40
    assert len(warnings) == 1 and "step_0000006, which does not exist" in warnings[0]


@pytest.mark.parametrize("victim", ["model.safetensors", "trainer_state.pt"])
def test_a_truncated_file_is_named_and_the_previous_checkpoint_used(tmp_path, parts, victim):
    _save(tmp_path, 2, parts)
    newest = _save(tmp_path, 4, parts)
    f = newest / victim
    os.truncate(f, f.stat().st_size // 2)
    assert latest_checkpoint(tmp_path).name == "step_0000002"
    warnings: list[str] = []
    ckpt, state = find_resume_checkpoint(tmp_path, warnings.append)
    assert ckpt.name == "step_0000002" and state["step"] == 2
    assert victim in warnings[0] and "step_0000004" in warnings[0] and "resuming from" in warnings[0]


def test_no_intact_checkpoint_is_an_error_naming_the_files(tmp_path, parts):
    for step in (2, 4):
        f = _save(tmp_path, step, parts) / "model.safetensors"
        f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(CheckpointError) as e:
        find_resume_checkpoint(tmp_path, print)
    msg = str(e.value)
    assert "step_0000004: model.safetensors is truncated" in msg and "step_0000002" in msg
    assert has_checkpoints(tmp_path) and latest_checkpoint(tmp_path) is None
    assert find_resume_checkpoint(tmp_path / "fresh", print) is None  # no checkpoints at all: a new run


def test_a_save_killed_midway_leaves_the_previous_checkpoint_latest(tmp_path, parts):
    model, tok, opt = parts
    _save(tmp_path, 2, parts)

    class Dies:
        def state_dict(self):
            raise KeyboardInterrupt  # the process is stopped while the trainer state is being written

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 4, model, tok, Dies(), {"data_pos": 0})
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_0000002"
    assert [p.name for p in step_dirs(tmp_path)] == ["step_0000002"]
    _save(tmp_path, 4, parts)  # the next save cleans up the half-written one
    assert not list((tmp_path / "checkpoints").glob(".tmp_*"))


def test_a_second_lock_on_a_run_dir_fails_at_once_naming_the_first_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; from agentrl.run_lock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); sys.stdin.read()"), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"in use by another trainer \(PID {holder.pid}\)"):
            RunLock(tmp_path).acquire()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with RunLock(tmp_path):  # released when its holder exits
        pass


# ------------------------------------------------------------------ verified by content (issue 28 item 6)
def _overwrite_middle(f, n=64 << 10, seed=0):
    """Overwrite ``n`` bytes in the middle of ``f`` with random bytes: same size, header intact."""
    size = f.stat().st_size
    assert size > n + 16384, size  # the header (a few KiB at the start) stays whole
    with open(f, "r+b") as fh:
        fh.seek(size // 2 - n // 2)
        fh.write(torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(seed),
                               dtype=torch.uint8).numpy().tobytes())
    return size


def test_overwritten_weights_fail_their_digest_and_the_previous_checkpoint_is_used(tmp_path, parts):
    _save(tmp_path, 2, parts)
    newest = _save(tmp_path, 4, parts)
    assert (newest / "checksums.json").is_file()
    f = newest / "model.safetensors"
    size = _overwrite_middle(f)
    assert f.stat().st_size == size and check_checkpoint(newest) is None  # the size check alone passes
    warnings: list[str] = []
    ckpt, state = find_resume_checkpoint(tmp_path, warnings.append)
    assert ckpt.name == "step_0000002" and state["step"] == 2
    assert len(warnings) == 1 and "step_0000004" in warnings[0] and "resuming from" in warnings[0]
    assert "model.safetensors does not match its sha256 digest" in warnings[0]
    assert latest_checkpoint(tmp_path, verify=True).name == "step_0000002"


def test_every_checkpoint_overwritten_is_a_clear_error(tmp_path, parts):
    for step in (2, 4):
        _overwrite_middle(_save(tmp_path, step, parts) / "model.safetensors", seed=step)
    with pytest.raises(CheckpointError) as e:
        find_resume_checkpoint(tmp_path, print)
    msg = str(e.value)
    assert "no intact checkpoint" in msg and msg.count("does not match its sha256 digest") == 2


def test_nan_weights_are_refused_at_save_and_nothing_is_written(tmp_path, parts):
    model, tok, opt = parts
    _save(tmp_path, 2, parts)
    p = next(model.parameters())
    keep = p.detach().clone()
    try:
        with torch.no_grad():
            p[0] = float("nan")
        with pytest.raises(NonFiniteWeightsError) as e:
            save_checkpoint(tmp_path, 4, model, tok, opt, {"data_pos": 40})
        assert "NaN or infinite" in str(e.value) and "step_0000002" in str(e.value)
        assert [d.name for d in step_dirs(tmp_path)] == ["step_0000002"]
        assert (tmp_path / "checkpoints" / "latest").read_text() == "step_0000002"
    finally:
        with torch.no_grad():
            p.copy_(keep)


def test_nan_weights_are_refused_at_load(tmp_path, parts):
    """A checkpoint whose weights hold inf (written before digests, or by a tool that recomputed them) is not
    resumed from."""
    from safetensors.torch import load_file, save_file

    _save(tmp_path, 2, parts)
    newest = _save(tmp_path, 4, parts)
    f = newest / "model.safetensors"
    tensors = load_file(str(f))
    name = sorted(tensors)[0]
    tensors[name][0] = float("inf")
    save_file(tensors, str(f), metadata={"format": "pt"})
    (newest / "checksums.json").unlink()  # an older agentrl's checkpoint: sizes are all it can check
    warnings: list[str] = []
    ckpt, _ = find_resume_checkpoint(tmp_path, warnings.append)
    assert ckpt.name == "step_0000002"
    assert f"model.safetensors: {name} holds NaN or infinite values" in warnings[0]


def test_rotation_never_deletes_the_last_verified_good_checkpoint(tmp_path, parts):
    _save(tmp_path, 2, parts, keep=2)
    _overwrite_middle(_save(tmp_path, 4, parts, keep=2) / "model.safetensors")
    _save(tmp_path, 6, parts, keep=2)  # keep-2 by name would delete step 2, the last good one before 6
    assert [d.name for d in step_dirs(tmp_path)] == ["step_0000006", "step_0000004", "step_0000002"]
    _save(tmp_path, 8, parts, keep=2)  # two verified ones newer: the older ones go
    assert [d.name for d in step_dirs(tmp_path)] == ["step_0000008", "step_0000006"]


def test_a_save_that_does_not_read_back_is_not_made_latest(tmp_path, parts, monkeypatch):
    import agentrl.checkpoint as ck

    _save(tmp_path, 2, parts)
    real = ck.verify_digests
    monkeypatch.setattr(ck, "verify_digests", lambda d: "model.safetensors does not match its sha256 digest"
                        if d.name.startswith(".tmp_") else real(d))  # a disk that corrupts what it is given
    with pytest.raises(CheckpointError, match="did not verify after writing"):
        _save(tmp_path, 4, parts, keep=1)
    assert [d.name for d in step_dirs(tmp_path)] == ["step_0000002"]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_0000002"
    assert not list((tmp_path / "checkpoints").glob(".tmp_*"))
