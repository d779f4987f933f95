from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.container import Services, build_services, initialise
from core.settings import Settings
from tests.conftest import Template, clone_installation, make_settings
from tests.hsm import SoftHsm, make_softhsm


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    return make_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture
def hsm_settings(pki_template: Template, tmp_path: Path, softhsm: SoftHsm) -> Settings:
    home = tmp_path / "home"
    url = clone_installation(pki_template, home)
    return make_settings(home, url, **softhsm.settings_overrides())


@pytest.fixture
def hsm_services(hsm_settings: Settings) -> Iterator[Services]:
    svc = build_services(hsm_settings)
    initialise(svc, demo=False)
    yield svc
    svc.close()
