"""A fresh SoftHSM2 token for tests (PEERS.md "HSM"): its own SOFTHSM2_CONF and token directory.

The PKCS#11 library reads SOFTHSM2_CONF once per process, at C_Initialize, so the token is made
once per test process (xdist worker) and shared by that process's tests.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "ywt-test"
PIN = "4711-pin"
SO_PIN = "5678-so"


@dataclass(frozen=True)
class SoftHsm:
    conf: Path
    module: str = MODULE
    token: str = TOKEN
    pin: str = PIN

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def settings_overrides(self, pin: str | None = None) -> dict[str, object]:
        return {"pkcs11_module": self.module, "pkcs11_token": self.token, "pkcs11_pin": pin or self.pin}


def make_softhsm(directory: Path) -> SoftHsm:
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = os.environ | {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
        check=True, capture_output=True, env=env,
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return SoftHsm(conf)
