"""The Knights & Knaves solver on hand-made puzzles (pure Python: no optional package)."""

from __future__ import annotations

import pytest

from gpu_worker.knights import holds, solve


def test_formulas_by_hand() -> None:
    a_truthful = (True, False)  # inhabitant 0 tells the truth, inhabitant 1 lies
    assert holds(["telling-truth", 0], a_truthful)
    assert holds(["lying", 1], a_truthful)
    assert not holds(["and", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert holds(["or", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert not holds(["->", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert holds(["<=>", ["lying", 0], ["telling-truth", 1]], a_truthful)
    with pytest.raises(ValueError, match="unknown operator"):
        holds(["xor", ["lying", 0]], a_truthful)


def test_classic_puzzle() -> None:
    # A says "B is a knave"; B says "A and I are of the same kind". Worked by hand:
    # A knight -> B knave -> B's claim (A, B same kind) is false, as a knave's must be. Unique.
    statements = [["lying", 1], ["<=>", ["telling-truth", 0], ["telling-truth", 1]]]
    assert solve(statements) == [(True, False)]
