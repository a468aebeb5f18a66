"""``react_webshop``: the WebShop format of ReAct (Yao et al. 2023), for comparable runs.

What it reproduces (read from ReAct's WebShop setup and its public derivatives):

- the turn format: the page as ``Observation: <page>``, then ``Action:``; the model answers with one line,
  ``search[...]``, ``click[...]`` or ``think[...]`` (a thought, answered ``OK.`` -- set the env's
  ``think_action: true``); a one-shot example trajectory in the system prompt; 15 steps (``max_turns``);
- the page as ReAct renders it: buttons and product links as ``[text]`` on their own line, option values as
  ``[value]`` after their group name (``[[value]]`` once selected), other text on its own line, the
  instruction left out after the first page, at most 10 products; after an option click the observation is
  ``You have clicked <value>.``, an action the env ignores gets ``Invalid action!``, and the done page is
  ``Your score (min 0.0, max 1.0): <score>``.

It needs ``WebShopEnv(agent_context=True)`` (the env hands the page's nodes and the last action to the policy;
policies keep no per-episode state). ``configs/env/webshop_react.yaml`` sets it up.

Not reproduced: ReAct's few-shot example itself (the one here is agentrl's own, written in the same format --
pass ReAct's as ``system_prompt`` to use it) and its disabled ``Next >`` (ReAct's wrapper forbids paging).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from policies.base import Policy, strip_think
from policies.verl_agent_webshop import read_context

if TYPE_CHECKING:
    from agentrl.trajectory import Trajectory

EXAMPLE = """You are shopping in the WebShop store for the item the instruction describes. Each turn, answer with \
exactly one action on one line: search[<query>] on the search page, click[<button>] for a button shown in \
brackets, or think[<thought>] to reason (answered with OK.). Buy with click[Buy Now].

Example:
Observation:
WebShop
Instruction:
i want a 2 pack of unscented aluminum free deodorant, and price lower than 30.00 dollars
[Search]

Action: search[unscented aluminum free deodorant 2 pack]
Observation:
[Back to Search]
Page 1 (Total results: 50)
[Next >]
[B0EXAMPLE1]
Pine Ridge Aluminum Free Deodorant Stick, Unscented
$9.50
[B0EXAMPLE2]
Harbor Citrus Deodorant Spray
$12.00

Action: think[B0EXAMPLE1 is aluminum free and unscented and under 30 dollars; I should check its options.]
Observation: OK.

Action: click[B0EXAMPLE1]
Observation:
[Back to Search]
[< Prev]
scent [unscented][lavender]
size [1 pack][2 pack]
Pine Ridge Aluminum Free Deodorant Stick, Unscented
Price: $9.50
Rating: N.A.
[Description]
[Features]
[Reviews]
[Buy Now]

Action: click[unscented]
Observation: You have clicked unscented.

Action: click[2 pack]
Observation: You have clicked 2 pack.

Action: click[Buy Now]"""

PRODUCTS_SHOWN = 10


def react_page(ctx: dict[str, Any]) -> str:
    """The current page as ReAct's WebShop wrapper writes it."""
    if ctx.get("page") == "done":
        texts = [t for t, _, _ in ctx["nodes"]]
        i = texts.index("Your score (min 0.0, max 1.0)") if "Your score (min 0.0, max 1.0)" in texts else -1
        return f"Your score (min 0.0, max 1.0): {texts[i + 1].strip()}" if 0 <= i < len(texts) - 1 else ""
    out, plain, products = "", 0, 0
    skip_plain = 0 if ctx.get("has_search_bar") else 2        # the instruction, after the search page
    for text, role, clicked in ctx["nodes"]:
        t = text.strip()
        if not t:
            continue
        if role == "button":
            out += f"\n[{t}] "
        elif role == "label":
            out += f"[[{t}]]" if clicked else f"[{t}]"
        elif role == "link":
            products += 1
            if products <= PRODUCTS_SHOWN:
                out += f"\n[{t}] "
        else:
            plain += 1
            if plain > skip_plain:
                out += f"\n{t} "
    return out.lstrip("\n")


def observation_text(ctx: dict[str, Any]) -> str:
    """What ReAct's wrapper answers to the last action: OK. / Invalid action! / You have clicked X. / the page."""
    history = ctx.get("history") or []
    last = history[-1]["action"] if history else None
    if ctx["observation"] == "OK." and last is not None and last.strip().lower().startswith("think"):
        return "OK."
    if not ctx.get("valid_action", True):
        return "Invalid action!"
    if last is not None and ctx.get("page") == "item" and last.strip().lower().startswith("click["):
        value = last.strip()[len("click["):].rstrip("]").strip().lower()
        labels = {t for t, role, _ in ctx["nodes"] if role == "label"}
        if value in labels:
            return f"You have clicked {value}."
    return react_page(ctx)


class ReActWebShopPolicy(Policy):
    """ReAct's WebShop turns: ``Observation: <page>`` / ``Action: <one line>`` with think[...] (see module)."""

    name = "react_webshop"
    system_prompt = EXAMPLE

    def message(self, observation: str, turn: int) -> tuple[str, str]:
        ctx = read_context(observation, self.name)
        return "user", f"Observation:\n{observation_text(ctx)}\n\nAction:"

    def parse_action(self, text: str) -> str:
        lines = [ln.strip() for ln in strip_think(text).strip().splitlines() if ln.strip()]
        line = lines[0] if lines else ""
        if line.lower().startswith("action:"):
            line = line[len("action:"):].strip()
        return line

    def render_reference(self, traj: Trajectory) -> str:
        lines = []
        for i, turn in enumerate(traj.turns, 1):
            lines.append(f"Action {i}: {turn.action if turn.action is not None else turn.text}")
            if turn.observation is not None:
                try:
                    lines.append(f"Observation {i}: {observation_text(json.loads(turn.observation))}")
                except (ValueError, KeyError, TypeError):
                    lines.append(f"Observation {i}: {turn.observation}")
        return f"Task: {traj.first_observation}\n" + "\n".join(lines)
