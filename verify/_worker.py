"""The sandbox worker (``python -m verify._worker``): see :mod:`verify.sandbox`.

Reads length-prefixed pickled jobs ``(function, args)`` from stdin — written only by our own
parent process — and answers ``(kind, payload)`` on stdout, until stdin closes.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import struct
import sys
import traceback
from typing import Any

_HEADER = struct.Struct(">Q")


def _call(func: Any, args: tuple[Any, ...]) -> tuple[str, Any]:
    from verify.sandbox import ResourceLimit

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


def main() -> None:
    import verify.pdfcore  # noqa: F401 - import pyHanko & co. before the memory cap

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # findings travel in the result
    limit = int(os.environ.get("YWT_WORKER_MEMORY", "0"))
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b"R")  # ready: imports done, memory capped
    stdout.flush()
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        job = stdin.read(size)
        if len(job) < size:
            return
        try:
            func, args = pickle.loads(job)  # noqa: S301 - written by our own parent process only
            result = _call(func, args)
            out = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            out = pickle.dumps(("limit", "memory limit reached"))
        except Exception as exc:  # an unpicklable result, say
            out = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"[:300]))
        stdout.write(_HEADER.pack(len(out)) + out)
        stdout.flush()


if __name__ == "__main__":
    main()
