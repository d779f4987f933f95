"""ASGI entry point for process managers: ``uvicorn --factory api.asgi:app_factory``.

Each uvicorn worker process calls the factory itself, so every worker builds its own services
(database pool, PKCS#11 session, Redis client) after the process exists — nothing is shared
across a fork. Run ``ywt init`` once before starting workers: the PKI is created by one process,
never raced by several.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.security import configure_logging
from core.settings import Settings


def app_factory() -> FastAPI:
    settings = Settings()
    configure_logging(settings)
    return create_app(settings)
