"""The Alembic migrations (run at start) build the schema the SQLModel models declare: every
table, column, index and constraint, on SQLite and on PostgreSQL (whichever the suite runs on).

Column types may be *wider* in the migrations than the models say (TEXT for unbounded strings,
BIGINT for counters and serials); anything else is drift and fails here, not in production.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from api.container import Services

WIDER = {(sa.Integer, sa.BigInteger), (sa.String, sa.Text)}


def _flatten(diffs: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for d in diffs:
        out.extend(d if isinstance(d, list) else [d])
    return out


def _wider(model_type: Any, db_type: Any) -> bool:
    model_type = getattr(model_type, "impl_instance", model_type)  # sqlmodel's AutoString is a String
    return any(isinstance(model_type, m) and isinstance(db_type, d) for m, d in WIDER)


def test_migrated_schema_matches_the_models(services: Services) -> None:
    with services.db.engine.connect() as c:
        diffs = _flatten(compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    drift = [d for d in diffs if not (d[0] == "modify_type" and _wider(d[6], d[5]))]
    assert drift == [], drift
    assert len(sa.inspect(services.db.engine).get_table_names()) > 20


def test_the_check_sees_drift() -> None:
    """The comparison is not vacuous: a model column the migrations never created is reported."""
    md = sa.MetaData()
    sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("extra", sa.Text))
    engine = sa.create_engine("sqlite://")
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY)"))
    with engine.connect() as c:
        diffs = _flatten(compare_metadata(MigrationContext.configure(c), md))
    assert [d[0] for d in diffs] == ["add_column"] and diffs[0][3].name == "extra"
