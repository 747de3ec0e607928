"""The remote CLI: `executor runs|workflows|schedules|instances|context ...` drive a running
Executor over its HTTP API, as `temporal workflow list` or `argo get` do.

It talks HTTP only: nothing here imports the engine, the store or the HTTP server, so what
these commands do is exactly what any other API client can do (the import-linter layers in
pyproject.toml hold it to that). `client` is the API's client and its errors, `contexts`
the named servers of ``contexts.yaml``, `output` tables for people and JSON for scripts,
`options` the options every remote command shares, `commands/` the command groups.
"""
