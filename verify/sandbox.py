"""Run untrusted-input parsing in worker processes with hard memory and wall-clock limits.

Why processes: a PDF bomb (deep nesting, a stream that inflates to gigabytes, reference
loops, pathological xref tables) attacks the parser, and a Python thread can be neither
stopped nor capped. Workers are started from a *forkserver* (no locks inherited from the
server's threads), import pyHanko once, run with ``RLIMIT_AS``, and are recycled after
``max_tasks`` jobs. A job that exceeds ``timeout`` gets its workers killed and the pool rebuilt;
a job that runs out of memory, recurses too deep or trips a decoder limit reports it. Whatever
happens in a worker becomes :class:`~verify.errors.PdfTooComplex` (or :class:`ChildFailed` for
an unexpected parser error), never a 500 and never a stuck server.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import threading
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from verify.errors import PdfTooComplex

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 1024 * 1024 * 1024
    timeout: float = 30.0
    workers: int = 2
    max_tasks: int = 200


DEFAULT_LIMITS = Limits()


class ResourceLimit(Exception):
    """Raised by worker code when input exceeds a structural bound (nesting, decoded size)."""


class ChildFailed(Exception):
    """The worker raised something unexpected (a parser bug on odd input); carries the message."""


def _init(memory_bytes: int) -> None:
    import logging

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # findings travel in the result, not in logs
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _call(func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", func(*args)
    except MemoryError:
        return "limit", "memory limit reached"
    except RecursionError:
        return "limit", "objects nested or referenced too deeply for the parser"
    except ResourceLimit as exc:
        return "limit", str(exc)
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"[:300] + "\n" + traceback.format_exc()[-1500:]


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._limits: Limits | None = None

    def get(self, limits: Limits) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._limits != limits:
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["verify.pdfcore"])
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=limits.workers,
                    mp_context=ctx,
                    initializer=_init,
                    initargs=(limits.memory_bytes,),
                    max_tasks_per_child=limits.max_tasks,
                )
                self._limits = limits
            return self._pool

    def reset(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        """Kill the workers of ``pool`` (a job overran its time) and forget it."""
        with self._lock:
            procs = list(getattr(pool, "_processes", {}).values())
            for p in procs:
                if p.is_alive():
                    p.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            if self._pool is pool:
                self._pool = None


_POOL = _Pool()


def run(func: Callable[..., T], *args: Any, limits: Limits = DEFAULT_LIMITS) -> T:
    """``func(*args)`` in a limited worker; its (picklable) result, :class:`PdfTooComplex` when a
    limit was hit, :class:`ChildFailed` for an unexpected error in the worker."""
    for attempt in (1, 2):
        pool = _POOL.get(limits)
        future = pool.submit(_call, func, args)
        try:
            kind, payload = future.result(timeout=limits.timeout)
            break
        except concurrent.futures.TimeoutError:
            _POOL.reset(pool)
            raise PdfTooComplex(f"verification did not finish within {limits.timeout:.0f} s", limit="time") from None
        except BrokenProcessPool:
            # a worker died (killed by the kernel at its memory limit, or by another job's
            # timeout): rebuild, and give an innocent job one more chance
            _POOL.reset(pool)
            if attempt == 2:
                raise PdfTooComplex(
                    "the verifier process was stopped by its resource limits", limit="process"
                ) from None
    if kind == "ok":
        result: T = payload
        return result
    if kind == "limit":
        raise PdfTooComplex(str(payload), limit="structure")
    raise ChildFailed(str(payload).split("\n")[0][:300])
