"""Database engine, sessions and migrations (SQLite by default, PostgreSQL in production/CI).

Every domain owns its tables (SQLModel ``table=True`` classes in its own ``models.py``) and its
own Alembic branch (``<package>/migrations/``); :func:`migrate` upgrades all branches to their
heads, in dependency order, on start.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.clock import utc
from core.settings import Settings

log = logging.getLogger(__name__)

#: Packages that own tables, in dependency order (lowest first). Each may have ``migrations/``.
MIGRATION_PACKAGES: tuple[str, ...] = ("core", "keys", "ca", "identity", "seal", "license", "verify")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zones: values are stored as naive UTC and given their zone back on read,
    so comparisons with :func:`core.clock.now` never mix naive and aware values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        v = utc(value)
        return v.replace(tzinfo=None) if dialect.name == "sqlite" else v

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else utc(value)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Writers take the lock at BEGIN, so two transactions never deadlock upgrading read locks;
    # this is what makes counters (serials, audit head) safe under concurrent requests.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.resolved_home.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """Owns the engine; hands out sessions whose transaction commits on success."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit if the block succeeds, roll back if it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _version_locations() -> list[str]:
    locations: list[str] = []
    for pkg in MIGRATION_PACKAGES:
        try:
            root = importlib.resources.files(pkg)
        except ModuleNotFoundError:
            continue
        path = Path(str(root)) / "migrations"
        if path.is_dir():
            locations.append(str(path))
    return locations


def alembic_config(db: Database) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    cfg.set_main_option("version_locations", " ".join(_version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = db.engine
    return cfg


def migrate(db: Database) -> None:
    """Upgrade every domain branch to its head (idempotent; safe on every start)."""
    from alembic import command

    command.upgrade(alembic_config(db), "heads")
