"""Checks of what a run is given, made before anything heavy is built, each failing with one clear line."""

from __future__ import annotations

from pathlib import Path

from agentrl.errors import UserError


def check_model_path(path: str) -> None:
    """``model.path`` must be ``tiny``, a packaged model (``smollm2``), a ``.gguf`` file, a transformers model
    directory (with ``config.json``) or a hub id; a path-like one that is none of these fails in one line
    (:func:`agentrl.model_path.check_local_model`, the one home of that check)."""
    from agentrl.model_path import check_local_model

    check_local_model(path, "model.path")


def hub_load_error(path: str, error: OSError) -> UserError | None:
    """A one-line :class:`UserError` for a hub id that transformers could not load, or None if unrelated."""
    if type(error) is not OSError or Path(path).expanduser().exists() or path == "tiny":
        return None
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(f"model.path={path!r} is not a local directory and could not be loaded from the Hugging "
                     f"Face hub: {first}")
