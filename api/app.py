"""Application factory. ``create_app(settings)`` is the only way an app comes into being."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import pages, problems, security
from api.container import Services, build_services, initialise
from api.limits import BodyLimitMiddleware
from api.routes import audit, clients, console_pages, identity, login, oidc, ops, pki, verify_pages, wallet_pages
from api.routes import license as license_routes
from api.routes import seal as seal_routes
from api.routes import verify as verify_routes
from core.settings import Settings

log = logging.getLogger("ywt")

CRL_REFRESH_SECONDS = 600


async def _crl_refresher(services: Services) -> None:
    while True:
        await asyncio.sleep(CRL_REFRESH_SECONDS)
        try:

            def run() -> list[str]:
                with services.db.session() as session:
                    return services.ca.refresh_crls(session)

            refreshed = await anyio.to_thread.run_sync(run)
            if refreshed:
                log.info("re-issued CRLs: %s", ", ".join(refreshed))
        except Exception:
            log.exception("CRL refresh failed; will retry")


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        svc = services or build_services(settings)
        if own:
            svc.started_report = initialise(svc, demo=settings.demo)
        app.state.services = svc
        task = asyncio.create_task(_crl_refresher(svc))
        try:
            yield
        finally:
            task.cancel()
            if own:
                svc.close()

    app = FastAPI(
        title="yiwangtong trust services (一网通)",
        version="0.1.0",
        lifespan=lifespan,
        description="Unified identity, e-seal, e-licence and verification on one PKI.",
    )
    if services is not None:
        app.state.services = services
    problems.install(app)
    problems.document_problems(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    security.install(app, settings)  # request id + JSON access log + metrics, headers, CORS, timeout
    app.mount("/static", StaticFiles(directory=str(pages.STATIC_DIR)), name="static")
    app.include_router(pages.router)
    app.include_router(ops.router)
    app.include_router(pki.router)
    app.include_router(license_routes.router)
    app.include_router(seal_routes.router)
    app.include_router(verify_routes.router)
    app.include_router(verify_routes.trust_router)
    app.include_router(verify_pages.router)
    app.include_router(oidc.router)
    app.include_router(clients.router)
    app.include_router(identity.router)
    app.include_router(login.router)
    app.include_router(audit.router)
    app.include_router(wallet_pages.router)
    app.include_router(console_pages.router)
    return app
