"""Run untrusted-input parsing in a child process with hard CPU, memory and wall-clock limits.

Why a process: a PDF bomb (deep nesting, a stream that inflates to gigabytes, reference
loops, pathological xref tables) attacks the parser, and a Python thread cannot be stopped or
capped. A child forked from a *forkserver* (pyHanko and friends preloaded once, so a fork costs
milliseconds, and no locks are inherited from the server's threads) gets ``RLIMIT_AS`` and
``RLIMIT_CPU``; the parent waits at most ``timeout`` seconds and kills it otherwise. Whatever
happens in the child becomes :class:`~verify.errors.PdfTooComplex`, never a 500.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import resource
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from verify.errors import PdfTooComplex

T = TypeVar("T")

_lock = threading.Lock()
_ctx: Any = None


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 768 * 1024 * 1024
    cpu_seconds: int = 20
    timeout: float = 30.0


DEFAULT_LIMITS = Limits()


class ChildFailed(Exception):
    """The child raised something unexpected (a parser bug on odd input); carries the message."""


def _context() -> Any:
    global _ctx  # noqa: PLW0603 - one forkserver per process, created on first use
    with _lock:
        if _ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["verify.pdfcore", "pyhanko.sign.validation", "pyhanko_certvalidator"])
            _ctx = ctx
        return _ctx


def _child(
    conn: multiprocessing.connection.Connection, limits: Limits, func: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    import logging

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # findings travel in the result, not in logs
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        result = func(*args)
        conn.send(("ok", result))
    except MemoryError:
        conn.send(("limit", "memory limit reached"))
    except RecursionError:
        conn.send(("limit", "nesting too deep for the parser"))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:500] + "\n" + traceback.format_exc()[-1500:]))
    finally:
        conn.close()


def run(func: Callable[..., T], *args: Any, limits: Limits = DEFAULT_LIMITS) -> T:
    """``func(*args)`` in a limited child; its result (picklable) or :class:`PdfTooComplex`."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, limits, func, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limits.timeout):
            raise PdfTooComplex(f"verification did not finish within {limits.timeout:.0f} s", limit="time")
        try:
            kind, payload = parent.recv()
        except (EOFError, OSError) as exc:
            raise PdfTooComplex("the verifier process was stopped by its resource limits", limit="process") from exc
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if kind == "ok":
        result: T = payload
        return result
    if kind == "limit":
        raise PdfTooComplex(str(payload), limit="memory")
    raise ChildFailed(str(payload).split("\n")[0][:300])
