"""`vault client`: the technician's side of the vault, for a laptop with only ``pip install``.

It logs in (URL, API key, an Ed25519 device key registered with the vault), hashes and signs
each file locally, keeps what it cannot send now in an encrypted offline spool, and sends it
exactly once, in order per session, over plain HTTP or tus (resumable) uploads.

Nothing here imports the server stack (FastAPI, uvicorn, SQLAlchemy, boto3, alembic): heavy
modules (httpx, cryptography) are imported only by the commands that need them.
See docs/client.md.
"""
