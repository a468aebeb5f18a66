"""The ``sys.path`` entries sandboxed code gets from the interpreter's ``site``, computed once on the host.

The sandbox starts Python with ``-S`` (no ``site`` at start-up): importing ``site`` runs every ``.pth`` file's
``import`` lines — host start-up hooks such as editable-install finders or CA-bundle shims, ~30 ms per run
here and nothing sandboxed code needs. The bootstrap instead appends the dirs listed by :func:`site_dirs`
(what ``site`` would add: the site-packages dirs, then the plain path lines of their ``.pth`` files) and
installs ``exit``/``quit``/``help`` as ``site`` does. Only dirs the sandbox can see are kept.
"""

from __future__ import annotations

import os
import site
from functools import lru_cache


def _visible(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _pth_dirs(sitedir: str) -> list[str]:
    """The path lines of ``sitedir``'s ``.pth`` files, as ``site.addpackage`` reads them (``import`` lines skipped)."""
    out: list[str] = []
    try:
        names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth") and not n.startswith("."))
    except OSError:
        return out
    for name in names:
        try:
            with open(os.path.join(sitedir, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.rstrip()
            if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
                continue
            out.append(os.path.realpath(os.path.join(sitedir, line)))
    return out


@lru_cache(maxsize=8)
def site_dirs(roots: tuple[str, ...], masks: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The dirs ``site`` would put on ``sys.path`` that lie under ``roots`` and not under ``masks`` (in order)."""
    bases = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    out: list[str] = []
    for base in bases:
        base = os.path.realpath(base)
        if not os.path.isdir(base):
            continue
        for d in [base, *_pth_dirs(base)]:
            if (d not in out and os.path.isdir(d) and ":" not in d
                    and _visible(d, list(roots)) and not _visible(d, list(masks))):
                out.append(d)
    return tuple(out)
