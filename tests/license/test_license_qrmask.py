"""The fast QR mask selection chooses exactly what segno's reference implementation chooses."""

from __future__ import annotations

import random
import string

import pytest
import segno
from segno import encoder

from license import _qrmask


def _symbols(text: str) -> tuple[segno.QRCode, segno.QRCode]:
    saved = encoder.find_and_apply_best_mask
    try:
        encoder.find_and_apply_best_mask = _qrmask._ORIGINAL
        reference = segno.make(text, error="m", boost_error=False, micro=False)
        encoder.find_and_apply_best_mask = _qrmask.find_and_apply_best_mask
        fast = segno.make(text, error="m", boost_error=False, micro=False)
    finally:
        encoder.find_and_apply_best_mask = saved
    return reference, fast


ALPHABET = string.ascii_letters + string.digits + "-_."


@pytest.mark.parametrize("seed", range(4))
def test_same_mask_and_matrix_as_segno(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(30):
        n = rng.choice([1, 5, 17, 40, 90, 150, 250, 330, 380, 420])
        text = "http://127.0.0.1:8000/v/" + "".join(rng.choice(ALPHABET) for _ in range(n))
        reference, fast = _symbols(text)
        assert (fast.version, fast.mask) == (reference.version, reference.mask), text
        assert fast.matrix == reference.matrix, text


def test_all_eight_masks_get_chosen_somewhere() -> None:
    """The comparison above is only meaningful if the inputs exercise every mask."""
    rng = random.Random(99)
    chosen = set()
    for _ in range(240):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(10, 300)))
        reference, fast = _symbols(text)
        assert fast.mask == reference.mask and fast.matrix == reference.matrix
        chosen.add(reference.mask)
    assert chosen == set(range(8))
