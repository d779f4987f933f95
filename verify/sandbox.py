"""Run untrusted-input parsing in worker processes with hard memory and wall-clock limits.

Why processes: a PDF bomb (deep nesting, a stream that inflates to gigabytes, reference
loops, pathological xref tables) attacks the parser, and a Python thread can be neither
stopped nor capped. Workers are plain child interpreters (``python -m verify._worker``): no
``multiprocessing`` bootstrap (which would re-run the caller's ``__main__`` and inherit locks
from the server's threads). Each worker imports pyHanko once, caps its address space
(``RLIMIT_AS``) and serves jobs over its stdin/stdout (length-prefixed pickles, only ever
exchanged with our own child). A job that exceeds ``timeout`` gets its worker killed; a worker
that dies (memory limit, crash) is replaced; workers are recycled after ``max_tasks`` jobs.
Whatever happens in a worker becomes :class:`~verify.errors.PdfTooComplex` (or
:class:`ChildFailed` for an unexpected parser error), never a 500 and never a stuck server.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from verify.errors import PdfTooComplex

T = TypeVar("T")
_HEADER = struct.Struct(">Q")
MAX_RESULT = 64 * 1024 * 1024
STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 1024 * 1024 * 1024
    timeout: float = 30.0
    workers: int = 2
    max_tasks: int = 500


DEFAULT_LIMITS = Limits()


class ResourceLimit(Exception):
    """Raised by worker code when input exceeds a structural bound (nesting, decoded size)."""


class ChildFailed(Exception):
    """The worker raised something unexpected (a parser bug on odd input); carries the message."""


class _WorkerDied(Exception):
    pass


def _read_exact(stream: IO[bytes], n: int, deadline: float) -> bytes:
    fd = stream.fileno()
    chunks: list[bytes] = []
    while n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise _WorkerDied
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class _Worker:
    def __init__(self, limits: Limits) -> None:
        # least privilege: the worker parses untrusted bytes and needs none of the service's
        # settings or secrets (YWT_MASTER_KEY, database URL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["YWT_WORKER_MEMORY"] = str(limits.memory_bytes)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verify._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.tasks = 0
        # wait for the worker's imports (not charged to the first job's timeout)
        assert self.proc.stdout is not None
        try:
            ready = _read_exact(self.proc.stdout, 1, time.monotonic() + STARTUP_TIMEOUT)
        except (TimeoutError, _WorkerDied):
            self.kill()
            raise PdfTooComplex("the verifier could not start", limit="startup") from None
        if ready != b"R":
            self.kill()
            raise PdfTooComplex("the verifier could not start", limit="startup")

    def call(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> tuple[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = pickle.dumps((func, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(_HEADER.pack(len(job)) + job)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerDied from exc
        self.tasks += 1
        deadline = time.monotonic() + timeout
        (size,) = _HEADER.unpack(_read_exact(self.proc.stdout, _HEADER.size, deadline))
        if size > MAX_RESULT:
            raise _WorkerDied
        result: tuple[str, Any] = pickle.loads(_read_exact(self.proc.stdout, size, deadline))  # noqa: S301 - our own child
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for s in (self.proc.stdin, self.proc.stdout):
            if s is not None:
                s.close()


class _Pool:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy = 0

    def acquire(self, limits: Limits) -> _Worker:
        with self._cond:
            while not self._idle and self._busy >= limits.workers:
                self._cond.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return _Worker(limits)
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise

    def release(self, worker: _Worker | None, limits: Limits) -> None:
        with self._cond:
            self._busy -= 1
            if worker is not None and worker.proc.poll() is None and worker.tasks < limits.max_tasks:
                self._idle.append(worker)
            elif worker is not None:
                worker.kill()
            self._cond.notify()


_POOL = _Pool()


def run(func: Callable[..., T], *args: Any, limits: Limits = DEFAULT_LIMITS) -> T:
    """``func(*args)`` in a limited worker; its (picklable) result, :class:`PdfTooComplex` when a
    limit was hit, :class:`ChildFailed` for an unexpected error in the worker."""
    worker = _POOL.acquire(limits)
    keep: _Worker | None = worker
    try:
        kind, payload = worker.call(func, args, limits.timeout)
    except TimeoutError:
        worker.kill()
        keep = None
        raise PdfTooComplex(f"verification did not finish within {limits.timeout:.0f} s", limit="time") from None
    except (_WorkerDied, pickle.UnpicklingError, EOFError):
        worker.kill()
        keep = None
        raise PdfTooComplex("the verifier process was stopped by its resource limits", limit="process") from None
    finally:
        _POOL.release(keep, limits)
    if kind == "ok":
        result: T = payload
        return result
    if kind == "limit":
        raise PdfTooComplex(str(payload), limit="structure")
    raise ChildFailed(str(payload).split("\n")[0][:300])
