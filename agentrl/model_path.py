"""Whether a ``model=`` argument names a local path, so that a missing one fails at once instead of going to
the Hugging Face hub (where ``runs/my-run`` looks like a repo id and costs a minute of retries)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from agentrl.errors import UserError

#: first path components that are always local: agentrl's own run and output directories
LOCAL_ROOTS = ("runs", "outputs", "checkpoints")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # what a Hugging Face repo id can look like
ACCEPTED = ("a transformers model directory (holding config.json), a .gguf file, a hub id such as "
            "Qwen/Qwen3-0.6B, tiny, or a packaged model (smollm2)")


def looks_local(path: str) -> bool:
    """True for a path-like model argument: it starts with ``/``, ``./``, ``../``, ``~`` or ``.``, or it has a
    path separator and either exists, names a local run/output directory (``runs/...``) or its first
    component is a local directory; or it cannot be a hub id at all (``my model``)."""
    p = path.strip()
    if not p:
        return False
    if p.startswith(("/", "~", ".")) or (os.sep != "/" and os.sep in p) or not _HUB_ID.match(p):
        return True
    if "/" not in p:
        return Path(p).exists()
    first = p.split("/", 1)[0]
    return first in LOCAL_ROOTS or Path(p).exists() or Path(first).is_dir()


def check_local_model(path: str, key: str = "model") -> None:
    """Raise :class:`UserError` (one line naming ``key=path`` and what is accepted) when ``path`` is path-like
    (:func:`looks_local`) but not a transformers model directory; a hub id or ``tiny`` passes untouched."""
    from agentrl.pretrained import PACKAGED

    if path == "tiny" or path in PACKAGED or not looks_local(path):
        return
    local = Path(path).expanduser()
    if local.is_file() and local.suffix.lower() == ".gguf":
        return  # converted by agentrl.pretrained
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"{key}={path!r} is a directory but not a transformers model (no config.json); "
                            f"accepted: {ACCEPTED}")
        return
    if local.exists():
        raise UserError(f"{key}={path!r} is a file, not a model directory; accepted: {ACCEPTED}")
    raise UserError(f"{key}={path!r} does not exist (a local path, so the hub is not asked); accepted: {ACCEPTED}")
