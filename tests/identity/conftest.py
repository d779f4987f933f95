"""Shared fixtures for the identity tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The service runs on asyncio; the anyio pytest plugin runs ``@pytest.mark.anyio`` tests on it."""
    return "asyncio"
