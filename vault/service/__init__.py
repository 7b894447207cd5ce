"""Use cases: one function per operation, under the CLI and the HTTP API alike.

Each takes the context (wiring), the acting principal and its arguments explicitly, checks the
permission table (``vault.access.permissions``), scopes every lookup by tenant, journals what
it did, and returns a frozen result with ``as_json()``. The CLI and the API only parse, call
and render.
"""
