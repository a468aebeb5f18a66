"""``verl_agent_webshop``: the WebShop prompt format of verl-agent (GiGPO, Feng et al. 2025), for comparable runs.

What it reproduces (read from verl-agent's WebShop environment manager, prompt and action projection):

- one user message per step, no system prompt: the task (the instruction), on steps after the first the step
  count and the last ``history_length`` (2) steps as ``[Observation n: '<page>', Action n: '<action>']`` lines,
  the current page, and the admissible actions one per line as ``'<action>',`` inside ``[`` ``]``
  (``search[<your query>]`` when the page has a search bar, then ``click[<x>]`` for every clickable, ``search``
  included); a prompt longer than 13,000 characters falls back to the form without history;
- a page is shown as its ``[SEP]`` segments after the instruction, each in single quotes;
- the reply is lowercased and the action is the text between the first ``<action>`` and ``</action>`` (without
  them, the reply's last 20 characters are sent, which the original env ignores);
- with the env's ``success_reward: 10`` and ``max_turns: 15`` (``configs/env/webshop_verl_agent.yaml``) the
  reward is 10 for a full success and 0 otherwise, over at most 15 steps.

It needs ``WebShopEnv(agent_context=True)``: the env then hands the instruction, the page, its clickables and
the recent steps to the policy as a JSON observation (policies are shared by concurrent episodes, so they keep
no history themselves).

Not reproduced: the wording of verl-agent's instructions is agentrl's own paraphrase (pass verl-agent's template
strings as ``template`` / ``template_no_history`` for its exact text; they take the same ``{fields}``); its
invalid-format penalty (a trainer setting there); and agentrl's rollouts keep earlier turns in the context (its
engine appends messages), where verl-agent rebuilds a fresh single-message prompt each step.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from policies.base import Policy

if TYPE_CHECKING:
    from agentrl.trajectory import Trajectory

TEMPLATE_NO_HISTORY = """
You are an expert shopper acting in the WebShop online store.
Your task: {task_description}.
The page you see now: {current_observation}.
The actions you may take on this page are:
[
{available_actions}
].

Choose one action for this step. First think step by step about where you are and which of the actions above \
brings you closest to the goal, inside <think> </think> tags. Then give the chosen action inside <action> </action> \
tags.
"""

TEMPLATE = """
You are an expert shopper acting in the WebShop online store.
Your task: {task_description}.
You have taken {step_count} step(s) so far. The last {history_length} pages you saw and the actions you took on \
them: {action_history}
This is step {current_step}; the page you see now: {current_observation}.
The actions you may take on this page are:
[
{available_actions}
].

Choose one action for this step. First think step by step about where you are and which of the actions above \
brings you closest to the goal, inside <think> </think> tags. Then give the chosen action inside <action> </action> \
tags.
"""

MAX_PROMPT_CHARS = 13000
_CJK = re.compile(r"[\u4e00-\u9fff]")


def read_context(observation: str, policy: str) -> dict[str, Any]:
    """The JSON object a ``WebShopEnv(agent_context=True)`` observation holds (a clear error otherwise)."""
    try:
        ctx = json.loads(observation)
    except ValueError:
        ctx = None
    if not isinstance(ctx, dict) or "observation" not in ctx or "clickables" not in ctx:
        raise ValueError(f"the {policy!r} policy needs WebShopEnv(agent_context=True) (env.kwargs.agent_context="
                         f"true); got a plain observation: {observation[:80]!r}")
    return ctx


def format_page(page: str, instruction: str) -> str:
    """A page as verl-agent shows it: its ``[SEP]`` segments after the instruction, each in single quotes."""
    parts = page.split(" [SEP] ")
    if instruction not in parts:
        return page
    return " [SEP] ".join(f"'{p}'" for p in parts[parts.index(instruction) + 1:])


def admissible_actions(ctx: dict[str, Any]) -> list[str]:
    """``search[<your query>]`` when the page has a search bar, then ``click[<x>]`` for every clickable."""
    acts = ["search[<your query>]"] if ctx.get("has_search_bar") else []
    return acts + [f"click[{c}]" for c in ctx["clickables"]]


class VerlAgentWebShopPolicy(Policy):
    """verl-agent's WebShop prompt: think/action tags, the last 2 steps, the admissible actions (see module)."""

    name = "verl_agent_webshop"
    system_prompt: str | None = None      # verl-agent sends the prompt as the only (user) message

    def __init__(self, system_prompt: str | None = None, guide: str | None = None, history_length: int = 2,
                 template: str | None = None, template_no_history: str | None = None):
        super().__init__(system_prompt, guide)
        if not isinstance(history_length, int) or history_length < 0:
            raise ValueError(f"history_length must be an integer >= 0, got {history_length!r}")
        self.history_length = history_length
        self.template = TEMPLATE if template is None else template
        self.template_no_history = TEMPLATE_NO_HISTORY if template_no_history is None else template_no_history

    def system(self, reference: str | None = None) -> str | None:
        if reference is None:
            return self.system_prompt
        return f"{self.system_prompt}\n\n{self.guide}{reference}" if self.system_prompt else \
            f"{self.guide}{reference}"

    def prompt(self, ctx: dict[str, Any]) -> str:
        """The user message for one step, from an ``agent_context`` observation."""
        task = ctx["instruction"]
        actions = "\n".join(f"'{a}'," for a in admissible_actions(ctx))
        current = format_page(ctx["observation"], task)
        step = int(ctx.get("step", 0))
        history = ctx.get("history", [])[-self.history_length:] if self.history_length else []
        if step > 0 and history:
            first = step - len(history) + 1
            lines = [f"[Observation {first + j}: '{format_page(h['observation'], task)}', "
                     f"Action {first + j}: '{h['action']}']" for j, h in enumerate(history)]
            text = self.template.format(task_description=task, step_count=step, history_length=len(history),
                                        action_history="\n".join(lines), current_step=step + 1,
                                        current_observation=current, available_actions=actions)
            if len(text) <= MAX_PROMPT_CHARS:
                return text
        return self.template_no_history.format(task_description=task, current_observation=current,
                                               available_actions=actions)

    def message(self, observation: str, turn: int) -> tuple[str, str]:
        return "user", self.prompt(read_context(observation, self.name))

    def parse_action(self, text: str) -> str:
        low = text.lower()
        start, end = low.find("<action>"), low.find("</action>")
        if start == -1 or end == -1:
            return low[-20:]
        return low[start + len("<action>"):end].strip()

    @staticmethod
    def well_formed(text: str) -> bool:
        """verl-agent's validity flag: an action block, a think block and no CJK characters."""
        return ("<action>" in text.lower() and "</action>" in text.lower() and "<think>" in text
                and "</think>" in text and not _CJK.search(text))

    def render_reference(self, traj: Trajectory) -> str:
        lines = []
        for i, turn in enumerate(traj.turns, 1):
            lines.append(f"Step {i} action: {turn.action if turn.action is not None else turn.text}")
            if turn.observation is not None:
                try:
                    obs = json.loads(turn.observation)["observation"]
                except (ValueError, KeyError, TypeError):
                    obs = turn.observation
                lines.append(f"Step {i} observation: {obs}")
        return f"Task: {traj.first_observation}\n" + "\n".join(lines)
