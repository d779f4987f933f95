"""Shared fixtures for the licence tests: the built-in demo types."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from license_samples import BUSINESS, FOOD, QUALIFICATION

from license.types import LicenseType, builtin_types


@pytest.fixture
def business_type() -> LicenseType:
    return builtin_types()[BUSINESS]


@pytest.fixture
def food_type() -> LicenseType:
    return builtin_types()[FOOD]


@pytest.fixture
def person_type() -> LicenseType:
    return builtin_types()[QUALIFICATION]


@pytest.fixture
def base_business_dict(business_type: LicenseType) -> dict[str, Any]:
    return copy.deepcopy(business_type.to_dict())
