"""Shared fixtures: an initialised PKI per test (cloned from a per-worker template), on SQLite
by default or on PostgreSQL when ``YWT_DATABASE_URL`` points at one (as CI does).

Creating a PKI takes seconds (RSA-3072 keys), so each worker builds one template installation
and every test gets a private copy: a copied SQLite file, or ``CREATE DATABASE … TEMPLATE``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.container import Services, build_services, initialise
from core.settings import Settings

PG_URL = os.environ.get("YWT_DATABASE_URL") or None
os.environ.pop("YWT_DATABASE_URL", None)  # tests pass database URLs explicitly
for _field in Settings.model_fields:  # the suite must not inherit a developer's settings
    os.environ.pop(f"YWT_{_field.upper()}", None)


def _admin_engine() -> sa.Engine:
    assert PG_URL is not None
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_url_for(db: str) -> str:
    assert PG_URL is not None
    return str(sa.make_url(PG_URL).set(database=db))


@dataclass
class Template:
    home: Path
    database: str | None  # PostgreSQL template database name, None for SQLite


_created_dbs: list[str] = []


def make_settings(home: Path, database_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": database_url,
        "base_url": "http://127.0.0.1:8000",
        "demo": True,
        "env": "test",
        "audit_checkpoint_every": 50,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    home = tmp_path_factory.mktemp("template")
    dbname = None
    if PG_URL:
        dbname = f"ywt_tpl_{uuid.uuid4().hex[:10]}"
        with _admin_engine().connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        _created_dbs.append(dbname)
    settings = make_settings(home, _pg_url_for(dbname) if dbname else None)
    services = build_services(settings)
    initialise(services, demo=True)
    services.close()
    yield Template(home, dbname)
    if PG_URL:
        with _admin_engine().connect() as c:
            for db in _created_dbs:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def clone_installation(template: Template, dest: Path) -> str | None:
    """Copy the template home (master key, blobs, SQLite DB) and database to ``dest``."""
    shutil.copytree(template.home, dest, dirs_exist_ok=True)
    if template.database is None:
        return None
    name = f"ywt_t_{uuid.uuid4().hex[:12]}"
    with _admin_engine().connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'))
    _created_dbs.append(name)
    return _pg_url_for(name)


@pytest.fixture
def settings(pki_template: Template, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    url = clone_installation(pki_template, home)
    return make_settings(home, url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    initialise(svc, demo=True)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(services.settings, services)
    with TestClient(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    services: Services


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    """The app on a real loopback socket (for openssl, pdfsig, node peers, browsers)."""
    import uvicorn

    from api.app import create_app

    port = free_port()
    app = create_app(services.settings, services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", services)
    server.should_exit = True
    thread.join(timeout=10)
