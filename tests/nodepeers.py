"""Start the node peers of ``tests/peers`` (installed by ``npm ci --prefix tests/peers``).

One place for what two test modules did by hand: find node and the packages, start
``national_idp.mjs`` (the national IdP stand-in on ``oidc-provider``), wait for its ``READY`` line,
and, when it does not come, say whether the peer exited (with its status and stderr) or hung.
"""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PEERS_DIR = Path(__file__).resolve().parent / "peers"
START_TIMEOUT = 60.0  # seconds; a start takes under a second on an idle machine


def require_node(*packages: str) -> str:
    """The node executable, after checking that ``packages`` are installed under tests/peers."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (Node 20+ is needed for tests/peers)")
    for package in packages:
        if not (PEERS_DIR / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"tests/peers/node_modules/{package} is missing: run npm ci --prefix tests/peers")
    return node


@contextmanager
def national_idp(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """Run ``national_idp.mjs`` on a free loopback port with ``config``; yields its issuer URL."""
    node = require_node("oidc-provider")
    stderr_path = workdir / "national_idp.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [node, str(PEERS_DIR / "national_idp.mjs"), "0", json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            if not ready:
                proc.kill()
                state = f"no READY line within {START_TIMEOUT:.0f} s (killed)"
            elif line:
                proc.kill()
                state = "printed something else first (killed)"
            else:  # end of stdout: it exited or is exiting
                try:
                    state = f"exited with status {proc.wait(timeout=10)}"
                except subprocess.TimeoutExpired:
                    proc.kill()
                    state = "closed its stdout without exiting (killed)"
            proc.wait(timeout=10)
            pytest.fail(f"national_idp.mjs did not start: {state}; stdout {line!r}; stderr:\n{stderr_path.read_text()}")
        yield line.split()[1]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
