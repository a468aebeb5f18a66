"""Checks of what a run is given, made before anything heavy is built, each failing with one clear line."""

from __future__ import annotations

import re
from pathlib import Path

from agentrl.errors import UserError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def check_model_path(path: str) -> None:
    """``model.path`` must be ``tiny``, a packaged model (``smollm2``), a ``.gguf`` file, a transformers model
    directory (with ``config.json``) or a hub id.

    Raises :class:`UserError` naming the path when it is a missing local path, a file, or a directory that
    holds no ``config.json``.
    """
    from agentrl.pretrained import PACKAGED

    if path == "tiny" or path in PACKAGED:
        return
    local = Path(path).expanduser()
    accepted = ("a transformers model directory (holding config.json), a .gguf file, a hub id such as "
                f"Qwen/Qwen3-0.6B, tiny, or a packaged model ({', '.join(sorted(PACKAGED))})")
    if local.is_file() and local.suffix.lower() == ".gguf":
        return
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model.path={path!r} is a directory but not a transformers model (no config.json); "
                            f"accepted: {accepted}")
        return
    if local.exists():
        raise UserError(f"model.path={path!r} is a file, not a model directory; accepted: {accepted}")
    looks_local = path.startswith(("/", "./", "../", "~", ".")) or not _HUB_ID.match(path)
    if looks_local:
        raise UserError(f"model.path={path!r} does not exist; accepted: {accepted}")


def hub_load_error(path: str, error: OSError) -> UserError | None:
    """A one-line :class:`UserError` for a hub id that transformers could not load, or None if unrelated."""
    if type(error) is not OSError or Path(path).expanduser().exists() or path == "tiny":
        return None
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(f"model.path={path!r} is not a local directory and could not be loaded from the Hugging "
                     f"Face hub: {first}")
