"""Personal data vault: round trip, kind binding, blind index stability and separation."""

from __future__ import annotations

import pytest

from core.aead import DecryptionFailed
from core.pii import PiiVault
from core.secrets import MasterKey


def test_pii_vault() -> None:
    vault = PiiVault(MasterKey(b"\x01" * 32))
    blob = vault.encrypt("id_number", "120101199001011239")
    assert b"120101199001011239" not in blob
    assert vault.decrypt("id_number", blob) == "120101199001011239"
    with pytest.raises(DecryptionFailed):
        vault.decrypt("phone", blob)  # kind is bound as associated data
    assert vault.encrypt("id_number", "x") != vault.encrypt("id_number", "x")  # random nonce
    assert vault.index("id_number", "120101199001011239") == vault.index("id_number", "120101199001011239")
    assert vault.index("id_number", "13920001234") != vault.index("phone", "13920001234")
    other = PiiVault(MasterKey(b"\x02" * 32))
    assert other.index("id_number", "1") != vault.index("id_number", "1")
    assert "redacted" in repr(vault)
