"""Checkpoints: model (transformers format, safetensors), optimizer, RNG states, step and data position.

A checkpoint is written to a hidden temporary directory, every file is fsynced, and the directory is renamed
into place; only then does ``latest`` move (itself written, fsynced and renamed). So a checkpoint is visible
only when complete, and a run killed at any moment (SIGKILL included) leaves the previous one usable.

Verified by content: at save, the sha256 of every file is written to ``checksums.json`` (before the rename
that makes the checkpoint visible), and the saved files are read back and checked against it. Weights that
hold NaN or infinite values are refused at save (:class:`NonFiniteWeightsError`, nothing written) and at load.

On resume, :func:`find_resume_checkpoint` verifies the newest checkpoint (each safetensors header against
its file size, every file against its digest, every weight finite, ``trainer_state.pt`` loaded) and falls
back to the newest intact one with a warning naming what failed; when checkpoints exist but none is intact
it raises :class:`CheckpointError` naming them. A checkpoint written before digests existed (no
``checksums.json``) is checked as before, by sizes.

Rotation (``keep``) counts only checkpoints that verify: it keeps the newest ``keep`` verified ones and
deletes only checkpoints older than the oldest of those, so the last verified-good checkpoint is never
deleted for a newer one that does not verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentrl.errors import CheckpointError, NonFiniteWeightsError
from agentrl.lora import ADAPTER_DIR, save_model

_STEP_DIR = re.compile(r"^step_(\d+)$")
#: the file of a checkpoint holding the sha256 of every other file
DIGESTS = "checksums.json"


def rng_state() -> dict[str, Any]:
    """The RNG states of Python, NumPy and torch (CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def step_dirs(run_dir: Path) -> list[Path]:
    """The run's ``checkpoints/step_<n>`` directories, newest step first (complete or not)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def has_checkpoints(run_dir: Path) -> bool:
    """Whether the run directory holds any checkpoint (intact or not) or a ``latest`` pointer."""
    return bool(step_dirs(run_dir)) or (Path(run_dir) / "checkpoints" / "latest").is_file()


def save_checkpoint(run_dir: Path, step: int, model: Any, tokenizer: Any, optimizer: Any,
                    trainer_state: dict[str, Any], keep: int = 2, rng: dict[str, Any] | None = None) -> Path:
    """Write ``checkpoints/step_<step>`` (complete before visible), point ``latest`` at it, keep the newest ``keep``.

    A step already saved intact is not written again (``latest`` is pointed at it); a broken directory of the
    same step is moved aside before the new one takes its name, so no complete checkpoint is ever deleted
    before its replacement is in place.
    """
    ckpt_root = Path(run_dir) / "checkpoints"
    if (bad := nonfinite_parameter(model)) is not None:
        good = latest_checkpoint(run_dir, verify=True)
        raise NonFiniteWeightsError(
            f"not saving step {step}: the model's weight {bad!r} holds NaN or infinite values (training diverged); "
            + (f"the last good checkpoint is {good}" if good is not None else "no earlier checkpoint is intact"))
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step_{step:07d}"
    if final.is_dir() and check_checkpoint(final, verify=True) is None:
        _point_latest(ckpt_root, final)
        return final
    for stale in ckpt_root.glob(".tmp_step_*"):  # left by a save that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = ckpt_root / f".tmp_step_{step:07d}"
    tmp.mkdir()
    save_model(model, tmp)  # with LoRA: merged weights + adapter/ (agentrl/lora.py)
    tokenizer.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "rng": rng or rng_state(), **trainer_state}, tmp / "trainer_state.pt")
    digests = {str(f.relative_to(tmp)): file_sha256(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
    (tmp / DIGESTS).write_text(json.dumps({"algorithm": "sha256", "files": digests}, indent=1))
    for f in tmp.rglob("*"):
        if f.is_file():
            _fsync_file(f)
    _fsync_dir(tmp)
    if (problem := verify_digests(tmp)) is not None:  # read back: what is on disk is what was written
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"checkpoint of step {step} did not verify after writing ({problem}); not saved, "
                              "earlier checkpoints kept")
    broken = None
    if final.exists():
        broken = ckpt_root / f".broken_step_{step:07d}"
        shutil.rmtree(broken, ignore_errors=True)
        os.replace(final, broken)
    os.replace(tmp, final)
    _fsync_dir(ckpt_root)
    _point_latest(ckpt_root, final)
    if broken is not None:
        shutil.rmtree(broken, ignore_errors=True)
    rotate(run_dir, final, keep)
    return final


def rotate(run_dir: Path, newest: Path, keep: int) -> list[Path]:
    """Keep the newest ``keep`` checkpoints that verify (``newest``, just verified, counts as one); delete those
    older than the oldest kept. Checkpoints that do not verify are not counted, and kept when newer than
    that. Returns the deleted directories."""
    kept, deleted = 0, []
    for d in step_dirs(run_dir):
        if kept >= max(keep, 1):
            shutil.rmtree(d, ignore_errors=True)
            deleted.append(d)
        elif d == newest or check_checkpoint(d, verify=True) is None:
            kept += 1
    return deleted


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_digests(ckpt: Path) -> str | None:
    """None when every file named in ``checksums.json`` has its recorded sha256 (or the checkpoint predates
    digests and has no ``checksums.json``), else what failed (names the file)."""
    path = ckpt / DIGESTS
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text())["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not an object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{DIGESTS} is unreadable ({type(e).__name__}: {e})"
    for name, want in sorted(files.items()):
        f = ckpt / name
        if not f.is_file():
            return f"{name} is missing (named in {DIGESTS})"
        try:
            got = file_sha256(f)
        except OSError as e:
            return f"{name} is unreadable ({e})"
        if got != want:
            return f"{name} does not match its sha256 digest (content changed since it was saved)"
    return None


def nonfinite_parameter(model: Any) -> str | None:
    """The name of the first floating-point parameter or buffer of ``model`` holding NaN/inf, or None."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return name
    return None


def nonfinite_tensor(ckpt: Path) -> str | None:
    """``file: tensor`` of the first floating-point tensor of ``ckpt``'s safetensors holding NaN/inf, or None."""
    from safetensors import safe_open

    for w in sorted(ckpt.glob("*.safetensors")):
        with safe_open(str(w), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key)
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    return f"{w.name}: {key}"
    return None


def _point_latest(ckpt_root: Path, target: Path) -> None:
    latest_tmp = ckpt_root / ".latest.tmp"
    with open(latest_tmp, "w") as f:
        f.write(target.name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(latest_tmp, ckpt_root / "latest")
    _fsync_dir(ckpt_root)


def check_safetensors(path: Path) -> str | None:
    """None when ``path`` is a whole safetensors file (header parses, tensors end at the file's end), else why not."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes, no header)"
            n = int.from_bytes(head, "little")
            if n > size - 8:
                return f"{path.name} is truncated (header of {n} bytes, file of {size})"
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return f"{path.name} is unreadable ({type(e).__name__}: {e})"
    if not isinstance(header, dict):
        return f"{path.name} has a malformed header"
    ends = [int(v["data_offsets"][1]) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    expected = 8 + n + max(ends, default=0)
    if expected != size:
        return f"{path.name} is truncated ({size} of {expected} bytes)"
    return None


def check_checkpoint(ckpt: Path, *, load_state: bool = False, verify: bool = False) -> str | None:
    """None when ``ckpt`` looks complete, else what is broken (names the file).

    Checks ``config.json``, every ``*.safetensors`` (see :func:`check_safetensors`) and ``trainer_state.pt``
    (a whole zip archive). With ``verify`` (implied by ``load_state``) every file is also checked against its
    sha256 in ``checksums.json`` and every weight must be finite; with ``load_state`` the trainer state is
    also loaded.
    """
    if not (ckpt / "config.json").is_file():
        return "config.json is missing"
    weights = sorted(ckpt.glob("*.safetensors"))
    if not weights:
        return "no *.safetensors model file"
    index = ckpt / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError) as e:
            return f"{index.name} is unreadable ({type(e).__name__})"
        missing = sorted(s for s in shards if not (ckpt / s).is_file())
        if missing:
            return f"{missing[0]} is missing (named in {index.name})"
    for w in weights:
        if (problem := check_safetensors(w)) is not None:
            return problem
    if (problem := check_adapter(ckpt)) is not None:
        return problem
    state = ckpt / "trainer_state.pt"
    if not state.is_file():
        return "trainer_state.pt is missing"
    try:
        with zipfile.ZipFile(state) as z:
            z.namelist()
    except (OSError, zipfile.BadZipFile) as e:
        return f"trainer_state.pt is truncated or corrupt ({e})"
    if verify or load_state:
        if (problem := verify_digests(ckpt)) is not None:
            return problem
        try:
            bad = nonfinite_tensor(ckpt)
        except Exception as e:  # noqa: BLE001 - a file safetensors cannot read is broken
            return f"the weights cannot be read ({type(e).__name__}: {e})"
        if bad is not None:
            return f"{bad} holds NaN or infinite values"
    if load_state:
        try:
            s = load_trainer_state(ckpt)
            int(s["step"]), int(s["data_pos"]), s["rng"]  # noqa: B018 - what resume needs
        except Exception as e:  # noqa: BLE001 - any failure to load means this checkpoint is not usable
            return f"trainer_state.pt cannot be loaded ({type(e).__name__}: {e})"
    return None


def check_adapter(ckpt: Path) -> str | None:
    """None when ``ckpt`` has no LoRA ``adapter/`` (agentrl/lora.py) or a whole one, else what is broken."""
    adapters = Path(ckpt) / ADAPTER_DIR
    if not adapters.exists():
        return None
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        if not (adapters / name).is_file():
            return f"{ADAPTER_DIR}/{name} is missing"
    problem = check_safetensors(adapters / "adapter_model.safetensors")
    return None if problem is None else f"{ADAPTER_DIR}/{problem}"


def latest_checkpoint(run_dir: Path, *, verify: bool = False,
                      warn: Callable[[str], None] | None = None) -> Path | None:
    """The newest checkpoint of a run whose files are complete, or None. The check is cheap (sizes) unless
    ``verify`` (digests and finite weights too); ``warn`` hears about each newer one that failed and why."""
    for ckpt in step_dirs(run_dir):
        problem = check_checkpoint(ckpt, verify=verify)
        if problem is None:
            return ckpt
        if warn is not None:
            warn(f"warning: {ckpt}: {problem}; skipped")
    return None


def find_resume_checkpoint(run_dir: Path, warn: Callable[[str], None]) -> tuple[Path, dict[str, Any]] | None:
    """The newest intact checkpoint and its trainer state, verified; None when the run has no checkpoint.

    Broken newer ones are reported through ``warn`` (what is broken, which one is used instead). Raises
    :class:`CheckpointError` naming every broken file when checkpoints exist but none is intact.
    """
    root = Path(run_dir) / "checkpoints"
    broken: list[str] = []
    pointer = root / "latest"
    if pointer.is_file():
        name = pointer.read_text().strip()
        if not (root / name).is_dir():
            broken.append(f"{root / 'latest'} names {name}, which does not exist")
    for ckpt in step_dirs(run_dir):
        problem = check_checkpoint(ckpt, load_state=True)
        if problem is None:
            if broken:
                warn(f"warning: {'; '.join(broken)}; resuming from {ckpt}")
            return ckpt, load_trainer_state(ckpt)
        broken.append(f"{ckpt}: {problem}")
    if broken:
        raise CheckpointError(f"no intact checkpoint to resume in {root}: {'; '.join(broken)}. Remove the broken "
                              "checkpoint(s) to start over, or pass another run_name")
    return None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    """The optimizer/RNG/step state saved beside the model (trusted: written by this run)."""
    return torch.load(ckpt / "trainer_state.pt", weights_only=False)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
