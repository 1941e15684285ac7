"""The strategy protocol, the registry and the feedback a strategy learns from.

A strategy is pure: it turns a JSON-serialisable ``state`` plus the run's ``step`` into
sampling probabilities over arms, and folds one report's :class:`ArmFeedback` into a new
state. It never sees HTTP, SQL or a clock, and any randomness comes from a
``numpy.random.Generator`` the caller passes in. Its state lives in the database row of
the run, so a strategy object itself holds nothing but its validated options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

State = dict[str, Any]


class StrategyError(ValueError):
    """An option or an arm set that a strategy cannot accept (an input error, not a bug)."""


@dataclass(frozen=True)
class ArmInfo:
    """What a strategy may know about an arm when the run is created."""

    name: str
    size: int | None
    tags: Mapping[str, Any]


@dataclass(frozen=True)
class ArmFeedback:
    """One report, reduced per arm (arrays have one entry per arm, in run order).

    Attributes:
        present: True where the report held at least one problem of the arm.
        reward: r_t(c), the mean over the arm's problems of the mean |advantage| (0 where absent).
        count: number of problems of the arm in the report.
        outcome: mean raw outcome reward of the arm's problems (NaN where none was given).
    """

    present: np.ndarray
    reward: np.ndarray
    count: np.ndarray
    outcome: np.ndarray


@runtime_checkable
class Strategy(Protocol):
    """What every curriculum strategy implements."""

    name: ClassVar[str]
    advantage_std: str
    """How reported rewards become advantages: "unbiased", "population" or "none"."""

    def options(self) -> dict[str, Any]:
        """The validated options, defaults filled in (stored with the run)."""
        ...

    def initial_state(self, arms: list[ArmInfo]) -> State:
        """The state before any report."""
        ...

    def probabilities(self, state: State, step: int) -> np.ndarray:
        """Probability of drawing each arm for one slot at training step ``step``."""
        ...

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        """The state after one report (``step`` is the step the report closes, 0-based)."""
        ...

    def values(self, state: State) -> np.ndarray:
        """The per-arm value shown to users as ``q``."""
        ...


StrategyFactory = Callable[[Mapping[str, Any], list[ArmInfo]], Strategy]
_REGISTRY: dict[str, StrategyFactory] = {}
T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator registering a strategy under ``name``; a duplicate name is refused."""

    def decorator(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(f"a strategy named {name!r} is already registered")
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return decorator


def strategy_names() -> list[str]:
    """Names of all registered strategies, sorted."""
    return sorted(_REGISTRY)


def build_strategy(name: str, options: Mapping[str, Any], arms: list[ArmInfo]) -> Strategy:
    """Instantiate the strategy ``name`` with ``options`` for ``arms``.

    Raises:
        StrategyError: unknown name, unknown option, or an invalid value.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise StrategyError(
            f"unknown strategy {name!r}; known: {', '.join(strategy_names())}"
        ) from None
    return factory(options, arms)


class OptionReader:
    """Reads a strategy's options, rejecting unknown keys with a message that lists known ones."""

    def __init__(self, strategy: str, options: Mapping[str, Any]) -> None:
        self._strategy = strategy
        self._options = dict(options)
        self._known: set[str] = set()

    def number(
        self,
        key: str,
        default: float | None,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        integer: bool = False,
    ) -> float:
        """A real (or integer) option inside ``[low, high]`` (``(low, high]`` if ``low_open``)."""
        self._known.add(key)
        value = self._options.get(key, default)
        if value is None:
            raise StrategyError(f"{self._strategy}: option {key!r} is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StrategyError(f"{self._strategy}: option {key!r} must be a number")
        if integer and float(value) != int(value):
            raise StrategyError(f"{self._strategy}: option {key!r} must be an integer")
        if not np.isfinite(value):
            raise StrategyError(f"{self._strategy}: option {key!r} must be finite")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            if high is None:
                bound = f"{'>' if low_open else '>='} {low}"
            elif low is None:
                bound = f"<= {high}"
            else:
                bound = f"in {'(' if low_open else '['}{low}, {high}]"
            raise StrategyError(f"{self._strategy}: option {key!r} must be {bound}, got {value}")
        return int(value) if integer else float(value)

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        """A string option among ``allowed``."""
        self._known.add(key)
        value = self._options.get(key, default)
        if value not in allowed:
            raise StrategyError(
                f"{self._strategy}: option {key!r} must be one of {list(allowed)}, got {value!r}"
            )
        return str(value)

    def finish(self) -> None:
        """Reject options that no reader asked for."""
        unknown = sorted(set(self._options) - self._known)
        if unknown:
            raise StrategyError(
                f"{self._strategy}: unknown option(s) {unknown}; known: {sorted(self._known)}"
            )
