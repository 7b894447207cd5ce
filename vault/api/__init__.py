"""The HTTP API (FastAPI): thin routers over ``vault.service``, built by ``create_app(settings)``."""
