"""Resumable uploads (tus 1.0): the parts of an upload wait on the vault's host, encrypted, until
the last byte arrives and the whole becomes one deposit.

- :mod:`vault.uploads.metadata`: the ``Upload-Metadata`` header (pure parsing).
- :mod:`vault.uploads.staging`: the encrypted staging area under ``$VAULT_HOME/uploads/``
  (state, per-upload key wrapped by the KEK store, AES-256-GCM records, locks, expiry).

The protocol itself (HTTP) is ``vault.api.routers.uploads``; why the vault speaks it itself
rather than through a library is ADR 0012.
"""
