"""Masking of personal data in reprs (DESIGN.md: masked in every response and log line).

A dataclass field holding an ID number, phone or bank-card number is declared with
``field(metadata=pii(mask_id_number))``; the class sets ``__repr__ = masked_repr``. Then
``repr()``/``str()`` of the object, of containers holding it, and of log records formatting it
show only the masked value, while attribute access still gives the real value to the code that
needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

_MASK_KEY = "ywt_mask"


def pii(mask: Callable[[str], str]) -> Mapping[str, Callable[[str], str]]:
    """Field metadata: ``masked_repr`` shows the field's value only through ``mask``."""
    return {_MASK_KEY: mask}


def masked_repr(self: Any) -> str:
    """``repr`` for dataclasses that masks every :func:`pii` field (``None`` stays ``None``)."""
    parts: list[str] = []
    for f in dataclasses.fields(self):
        if not f.repr:
            continue
        value = getattr(self, f.name)
        mask: Callable[[str], str] | None = f.metadata.get(_MASK_KEY)
        if mask is not None and value is not None:
            value = mask(str(value))
        parts.append(f"{f.name}={value!r}")
    return f"{type(self).__qualname__}({', '.join(parts)})"
