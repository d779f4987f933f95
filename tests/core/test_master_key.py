"""Master key handling: dev key file permissions, wrong key refused without touching data."""

from __future__ import annotations

import stat

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from api.container import build_services
from core.secrets import MasterKeyError
from core.settings import Settings
from tests.conftest import make_settings


def test_dev_master_key_file_is_private(settings: Settings) -> None:
    mode = stat.S_IMODE(settings.master_key_file.stat().st_mode)
    assert mode == 0o600


def test_wrong_master_key_is_refused_and_nothing_rewritten(settings: Settings) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        eng = sa.create_engine(settings.sqlalchemy_url)
        with eng.connect() as c:
            rows = [tuple(r) for r in c.execute(sa.text("SELECT key_id, private_blob FROM key_record ORDER BY key_id"))]
            rows += [tuple(r) for r in c.execute(sa.text("SELECT key, value FROM core_meta ORDER BY key"))]
        eng.dispose()
        return rows

    before = snapshot()
    key_file_before = settings.master_key_file.read_bytes()
    wrong = make_settings(settings.home, settings.database_url, master_key="11" * 32)
    with pytest.raises(MasterKeyError, match="does not match"):
        build_services(wrong)
    assert snapshot() == before
    assert settings.master_key_file.read_bytes() == key_file_before


def test_malformed_master_key_is_refused(settings: Settings) -> None:
    with pytest.raises(MasterKeyError, match="64 hexadecimal"):
        build_services(make_settings(settings.home, settings.database_url, master_key="not-hex"))


def test_group_readable_key_file_is_refused(settings: Settings) -> None:
    settings.master_key_file.chmod(0o640)
    with pytest.raises(MasterKeyError, match="readable"):
        build_services(settings)


def test_production_refuses_demo_and_generated_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="YWT_MASTER_KEY"):
        Settings(env="production", home=tmp_path, demo=False, database_url="postgresql+psycopg://x/y")
    with pytest.raises(ValidationError, match="demo"):
        Settings(env="production", home=tmp_path, master_key="00" * 32, database_url="postgresql+psycopg://x/y")
