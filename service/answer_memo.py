"""Answers already given, kept per worker and found again by the SKU's revision and the question."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

from service.metrics import AnswerCounters

A = TypeVar("A")


class AnswerMemo(Generic[A]):
    """SKU answers already given (the question's or the rules', or their bytes), by SKU revision and question,
    least recently asked dropped first.

    A SKU's revision changes in the transaction that records or voids one of its lots, and
    nothing else changes a stored origin, so an answer found under the revision just read is
    the answer that would be computed now. Revisions are random tokens: no two databases share one.
    """

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[Hashable, A] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        # Answers found and computed, for /metrics (service.metrics); None: not counted.
        self.counters: AnswerCounters | None = None

    def get(self, key: Hashable) -> A | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: Hashable, answer: A) -> None:
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self._capacity:
                self._answers.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], A]) -> A:
        """The remembered answer, or ``compute()``'s: once, however many requests ask at the same moment.

        Without this, a burst of the same new question would compute the same large answer in
        every thread at once: as many times the CPU and memory, and every one of them late.
        """
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        try:
            with computing:
                answer = self.get(key)
                if answer is None:
                    answer = compute()
                    self.put(key, answer)
                    if self.counters is not None:
                        self.counters.computed.inc()
                elif self.counters is not None:
                    self.counters.remembered.inc()
                return answer
        finally:
            with self._lock:
                self._computing.pop(key, None)

    async def remembered(self, key: Hashable, compute: Callable[[], A]) -> A:
        """For a route: the remembered answer at once, on the event loop; one not yet known computed in a
        worker thread (once, see ``get_or_compute``) so that other requests go on meanwhile."""
        answer = self.get(key)
        if answer is None:
            answer = await run_in_threadpool(self.get_or_compute, key, compute)
        elif self.counters is not None:
            self.counters.remembered.inc()
        return answer
