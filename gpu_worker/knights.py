"""A Knights & Knaves solver that writes step-by-step solutions, for the warmup stage.

The warmup paper (Shrestha et al., 2505.13718) distils long reasoning traces on Knights &
Knaves puzzles before RL. reasoning-gym's `knights_knaves` entries carry each inhabitant's
statement as a formula in `metadata["statements"]`:

    ["telling-truth", i] | ["lying", i] | ["not", s] | ["and", s, ...] | ["or", s, ...]
    | ["->", a, b] | ["<=>", a, b]

The solver tries every assignment (True = truth-teller) in a fixed order and keeps the ones
where each inhabitant's statement is true exactly when they tell the truth. The trace states
each tried assignment, the first inhabitant it contradicts, and the consistent one, then the
answer in the format reasoning-gym's verifier expects, inside `<answer></answer>`.
"""

from __future__ import annotations

import itertools
from typing import Any

Formula = list[Any]


def holds(formula: Formula, assignment: tuple[bool, ...]) -> bool:
    """Truth value of a statement formula when `assignment[i]` says whether i tells the truth."""
    op, *args = formula
    if op == "telling-truth":
        return assignment[args[0]]
    if op == "lying":
        return not assignment[args[0]]
    if op == "not":
        return not holds(args[0], assignment)
    if op == "and":
        return all(holds(a, assignment) for a in args)
    if op == "or":
        return any(holds(a, assignment) for a in args)
    if op == "->":
        return (not holds(args[0], assignment)) or holds(args[1], assignment)
    if op == "<=>":
        return holds(args[0], assignment) == holds(args[1], assignment)
    raise ValueError(f"unknown operator {op!r} in {formula!r}")


def first_contradiction(statements: list[Formula], assignment: tuple[bool, ...]) -> int | None:
    """Index of the first inhabitant whose statement's truth differs from their kind, if any."""
    for person, statement in enumerate(statements):
        if holds(statement, assignment) != assignment[person]:
            return person
    return None


def solve(statements: list[Formula]) -> list[tuple[bool, ...]]:
    """All consistent assignments, truth-tellers first in the enumeration order."""
    return [
        assignment
        for assignment in itertools.product((True, False), repeat=len(statements))
        if first_contradiction(statements, assignment) is None
    ]


def answer_text(metadata: dict[str, Any], assignment: tuple[bool, ...]) -> str:
    """The answer sentence in reasoning-gym's format, e.g. `Amelia is a hero, and Bob is a villain.`"""
    terms = metadata["knight_knave_terms"]
    parts = [
        f"{name} is {terms['a_knight'] if truthful else terms['a_knave']}"
        for name, truthful in zip(metadata["names"], assignment, strict=True)
    ]
    if len(parts) == 1:
        return parts[0] + "."
    return ", ".join(parts[:-1]) + ", and " + parts[-1] + "."


def solution_trace(entry: dict[str, Any]) -> str:
    """A step-by-step solution of one reasoning-gym knights_knaves entry, ending in the answer.

    Raises:
        ValueError: the puzzle has no consistent assignment, or more than one.
    """
    meta = entry["metadata"]
    statements, names = meta["statements"], meta["names"]
    terms = meta["knight_knave_terms"]
    solutions = solve(statements)
    if len(solutions) != 1:
        raise ValueError(f"puzzle has {len(solutions)} consistent assignments, expected exactly 1")
    lines = []
    for assignment in itertools.product((True, False), repeat=len(statements)):
        kinds = ", ".join(
            f"{n} {terms['knight'] if t else terms['knave']}"
            for n, t in zip(names, assignment, strict=True)
        )
        person = first_contradiction(statements, assignment)
        if person is None:
            lines.append(f"Try {kinds}: every statement matches its speaker. Consistent.")
            break
        said = "true" if holds(statements[person], assignment) else "false"
        role = terms["knight"] if assignment[person] else terms["knave"]
        lines.append(
            f"Try {kinds}: {names[person]}'s statement is {said}, impossible for a {role}."
        )
    lines.append(f"<answer>{answer_text(meta, solutions[0])}</answer>")
    return "\n".join(lines)
