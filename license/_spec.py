"""Private helpers for building licence-type specs: errors with paths, a strict JSON reader.

Getters of :class:`Obj` raise :class:`InvalidLicenseType` with absolute paths
(``layout.placements[2].box``); dataclass constructors raise paths relative to themselves
(``box``), which :func:`build` prefixes with the path of the object being read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, TypeVar

from license.errors import InvalidLicenseType
from license.values import ValueProblem, clean_text

_T = TypeVar("_T")


def problem(path: str, reason: str) -> InvalidLicenseType:
    return InvalidLicenseType(path, reason)


def check_label(path: str, value: str, max_len: int = 32) -> None:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise problem(path, "must be a non-empty string without surrounding spaces")
    if len(value) > max_len:
        raise problem(path, f"must be at most {max_len} characters")
    try:
        clean_text(value)
    except ValueProblem as exc:
        raise problem(path, exc.reason) from None


def num_out(v: float) -> float | int:
    """A number as JSON shows it best: ``36`` rather than ``36.0``."""
    return int(v) if float(v).is_integer() else v


def is_number(v: object) -> bool:
    """An ``int`` or ``float`` (not ``bool``) that is finite."""
    return isinstance(v, int | float) and not isinstance(v, bool) and v - v == 0


def build(path: str, factory: Callable[[], _T]) -> _T:
    """Run a constructor whose errors carry paths relative to the object at ``path``."""
    try:
        return factory()
    except InvalidLicenseType as exc:
        if not path:
            raise
        raise exc.under(path) from None


_MISSING: Final = object()


class Obj:
    """Strict reader for one JSON object: typed getters, paths in errors, unknown keys refused."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise problem(path, "must be a JSON object")
        self.data: dict[str, object] = data
        self.path = path
        self.used: set[str] = set()

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def keys_in_order(self) -> list[str]:
        return list(self.data)

    def _get(self, key: str, required: bool) -> object:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise problem(self._p(key), "is required")
            return _MISSING
        return self.data[key]

    def req_str(self, key: str) -> str:
        v = self._get(key, True)
        if not isinstance(v, str):
            raise problem(self._p(key), "must be a string")
        return v

    def opt_str(self, key: str) -> str | None:
        v = self._get(key, False)
        if v is _MISSING:
            return None
        if not isinstance(v, str):
            raise problem(self._p(key), "must be a string")
        return v

    def str_(self, key: str, default: str) -> str:
        v = self.opt_str(key)
        return default if v is None else v

    def enum(self, key: str, allowed: list[str], default: str | None = None) -> str:
        v = self.opt_str(key) if default is not None else self.req_str(key)
        v = default if v is None else v
        assert v is not None
        if v not in allowed:
            raise problem(self._p(key), f"must be one of {', '.join(allowed)}")
        return v

    def bool_(self, key: str, default: bool) -> bool:
        v = self._get(key, False)
        if v is _MISSING:
            return default
        if not isinstance(v, bool):
            raise problem(self._p(key), "must be true or false")
        return v

    def opt_int(self, key: str) -> int | None:
        v = self._get(key, False)
        if v is _MISSING:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise problem(self._p(key), "must be an integer")
        return v

    def int_(self, key: str, default: int) -> int:
        v = self.opt_int(key)
        return default if v is None else v

    def opt_num(self, key: str) -> float | None:
        v = self._get(key, False)
        if v is _MISSING:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise problem(self._p(key), "must be a number")
        return float(v)

    def num(self, key: str, default: float) -> float:
        v = self.opt_num(key)
        return default if v is None else v

    def list_(self, key: str, *, required: bool = True) -> list[object]:
        v = self._get(key, required)
        if v is _MISSING:
            return []
        if not isinstance(v, list):
            raise problem(self._p(key), "must be a list")
        return v

    def str_list(self, key: str) -> list[str]:
        items = self.list_(key, required=False)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise problem(f"{self._p(key)}[{i}]", "must be a string")
        return [str(x) for x in items]

    def obj(self, key: str, *, required: bool = True) -> Obj | None:
        v = self._get(key, required)
        if v is _MISSING:
            return None
        return Obj(v, self._p(key))

    def obj_list(self, key: str, *, required: bool = True) -> Iterator[Obj]:
        for i, item in enumerate(self.list_(key, required=required)):
            yield Obj(item, f"{self._p(key)}[{i}]")

    def raw(self, key: str) -> object:
        """A required value of any JSON type, for callers that check it themselves."""
        return self._get(key, True)

    def path_of(self, key: str) -> str:
        return self._p(key)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            raise problem(self.path, f"unknown keys: {', '.join(sorted(unknown))}")
