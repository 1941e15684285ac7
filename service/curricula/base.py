"""The strategy protocol, the registry and the feedback a strategy learns from.

A strategy is pure: it turns a JSON-serialisable ``state`` plus the run's ``step`` into
sampling probabilities over arms, and folds one report's :class:`ArmFeedback` into a new
state. It never sees HTTP, SQL or a clock, and any randomness comes from a
``numpy.random.Generator`` the caller passes in. Its state lives in the database row of
the run, so a strategy object itself holds nothing but its validated options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
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


_RECORDING: ContextVar[dict[str, Any] | None] = ContextVar("zpd_option_schemas", default=None)


class OptionReader:
    """Reads a strategy's options, rejecting unknown keys with a message that lists known ones.

    Under :func:`option_schema` it validates nothing and instead writes down the JSON Schema
    of every option it is asked for, so the API's schema states the same bounds the reader
    enforces.
    """

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
        high_open: bool = False,
        integer: bool = False,
        bounds_from_arms: bool = False,
    ) -> float:
        """A real (or integer) option inside ``[low, high]`` (open ends if ``low_open`` or
        ``high_open``); ``bounds_from_arms``: the bounds depend on the run's arms, so the
        API schema cannot state them."""
        self._known.add(key)
        recording = _RECORDING.get()
        if recording is not None:
            schema: dict[str, Any] = {"type": "integer" if integer else "number"}
            if not bounds_from_arms:
                if low is not None:
                    schema["exclusiveMinimum" if low_open else "minimum"] = low
                if high is not None:
                    schema["exclusiveMaximum" if high_open else "maximum"] = high
            recording["properties"][key] = schema
            if default is None:
                recording["required"].append(key)
            return default if default is not None else (low if low is not None else 1)
        value = self._options.get(key, default)
        if value is None:
            raise StrategyError(f"{self._strategy}: option {key!r} is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StrategyError(f"{self._strategy}: option {key!r} must be a number")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise StrategyError(f"{self._strategy}: option {key!r} must be finite")
        if integer and float(value) != int(value):
            raise StrategyError(f"{self._strategy}: option {key!r} must be an integer")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise StrategyError(
                f"{self._strategy}: option {key!r} must be "
                f"{_bounds(low, high, low_open, high_open)}, got {value}"
            )
        return int(value) if integer else float(value)

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        """A string option among ``allowed``."""
        self._known.add(key)
        recording = _RECORDING.get()
        if recording is not None:
            recording["properties"][key] = {"type": "string", "enum": list(allowed)}
            return default
        value = self._options.get(key, default)
        if value not in allowed:
            raise StrategyError(
                f"{self._strategy}: option {key!r} must be one of {list(allowed)}, got {value!r}"
            )
        return str(value)

    def finish(self) -> None:
        """Reject options that no reader asked for."""
        if _RECORDING.get() is not None:
            return
        unknown = sorted(set(self._options) - self._known)
        if unknown:
            raise StrategyError(
                f"{self._strategy}: unknown option(s) {unknown}; known: {sorted(self._known)}"
            )


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def option_schema(read: Callable[[], object]) -> dict[str, Any]:
    """The JSON Schema of the options object that ``read()`` reads through
    :class:`OptionReader`: each option's type and bounds, the options without a default
    required, no other key allowed.

    ``read`` runs with every reader in recording mode: nothing is validated and each
    option takes its default (or its lower bound when it has no default), so checks
    between options that follow the reads see plausible values.
    """
    recording: dict[str, Any] = {"properties": {}, "required": []}
    token = _RECORDING.set(recording)
    try:
        read()
    finally:
        _RECORDING.reset(token)
    schema = {"type": "object", "properties": recording["properties"]}
    if recording["required"]:
        schema["required"] = recording["required"]
    schema["additionalProperties"] = False
    return schema


def strategy_option_schemas() -> dict[str, dict[str, Any]]:
    """Per registered strategy, the JSON Schema of its options object (for the API schema).

    Strategies are built for two sized arms tagged with difficulties 0 and 1, which every
    strategy accepts; bounds that depend on the arms are left out (see ``bounds_from_arms``).
    """
    arms = [ArmInfo("a", 1, {"difficulty": 0}), ArmInfo("b", 1, {"difficulty": 1})]
    return {
        name: option_schema(lambda name=name: build_strategy(name, {}, arms))  # type: ignore[misc]
        for name in strategy_names()
    }
