"""Environment infrastructure (not environments themselves, which live in the top-level ``envs`` package).

:mod:`agentrl.env_server.serve` exposes a registered env over HTTP; :class:`agentrl.env_server.remote.RemoteEnv`
(``agentrl.make("remote", url=..., env_id=...)``) uses such a server like a local env.
"""
