"""Adapters that run the ecosystem's environment packages as agentrl envs, unchanged.

One module per package, each imported only when its env is made (``agentrl.make("textarena:Wordle-v0")``):

* :mod:`envs.ecosystem.textarena` -- TextArena's single-player games (``textarena:<game id>``);
* :mod:`envs.ecosystem.verifiers` -- verifiers tasksets and envs (``verifiers:<taskset id>``);
* :mod:`envs.ecosystem.openenv` -- OpenEnv servers over their WebSocket client (``openenv:<module:app>`` or
  ``env=openenv env.kwargs.server=<url>``).

Each is an :class:`agentrl.AgentEnv`: text in, text out through agentrl's engine, the package's own reward and
termination, tasks ``<split>-<i>`` reproducible from their id, and bad ids or actions answered in one line.
"""

from __future__ import annotations
