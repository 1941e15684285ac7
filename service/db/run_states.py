"""The runs a process wrote last, as committed: the copies :func:`~service.domain.locking.
locked_run` may use instead of reading a run and its arms again.

A copy is keyed by the run's ``generation`` (a new random value at every locked write);
``locked_run`` uses it only when the stored generation is the copy's. Values only (row
tuples), never live objects, so no caller can change a copy by accident.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from service.db.models import Run, table_of

_GENERATION_AT = tuple(c.key for c in table_of(Run).columns).index("generation")


@dataclass(frozen=True)
class RunState:
    """A run's and its arms' column values as committed, under the run's generation."""

    run: tuple[Any, ...]
    arms: tuple[tuple[Any, ...], ...]

    @property
    def generation(self) -> int:
        return int(self.run[_GENERATION_AT])


class RunStates:
    """The runs this process wrote last, as committed (at most ``capacity``, least
    recently used dropped first). Thread-safe; holds values only, never live objects."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> RunState | None:
        with self._lock:
            state = self._states.get(run_id)
            if state is not None:
                self._states.move_to_end(run_id)
            return state

    def put(self, run_id: str, state: RunState) -> None:
        with self._lock:
            self._states[run_id] = state
            self._states.move_to_end(run_id)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
