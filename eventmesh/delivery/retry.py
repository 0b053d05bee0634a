"""One retry policy type for every delivery that retries: SNS's delivery policies and
EventBridge's retry policy are both :class:`RetryPolicy`.

A policy answers one question, the same whether the delivery waits in memory or in the store
after a restart: after ``retries`` retries of a delivery ``age`` seconds old, how long until
the next one, or why none comes (a :class:`GiveUp` naming the condition)?
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventmesh._errors import ConfigurationError
from eventmesh._validation import check_mapping

__all__ = [
    "AWS_MANAGED_POLICY",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "BACKOFF_JITTER",
    "HTTP_DEFAULT_POLICY",
    "BackoffPolicy",
    "DeliveryPolicy",
    "GiveUp",
    "RetryPolicy",
    "backoff_delay",
]

BACKOFF_BASE = 1.0
BACKOFF_CAP = 600.0
BACKOFF_JITTER = 0.5


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No retry comes: ``condition`` says why (``MaximumRetryAttempts``,
    ``MaximumEventAgeInSeconds``, or ``RetriesExhausted`` for a delivery policy)."""

    condition: str


class RetryPolicy(ABC):
    """How a failed delivery is retried; see the module docstring."""

    __slots__ = ()

    @abstractmethod
    def next_retry(self, retries: int, age: float, rng: random.Random) -> float | GiveUp:
        """The wait before the next retry after ``retries`` retries (0: the first retry) of
        a delivery first attempted ``age`` seconds ago, or why there is none."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy(RetryPolicy):
    """SNS's ``healthyRetryPolicy``: how often, and how far apart, a failed delivery is retried.

    The ``num_retries`` retries come in four phases: ``num_no_delay_retries`` at once,
    ``num_min_delay_retries`` ``min_delay_target`` seconds apart, then a backoff phase from
    ``min_delay_target`` to ``max_delay_target`` (the retries no other phase takes), then
    ``num_max_delay_retries`` ``max_delay_target`` seconds apart. ``backoff_function`` is
    ``"linear"`` (evenly spaced delays) or ``"exponential"`` (each delay a constant factor
    larger); SNS's arithmetic and geometric curves are not documented precisely enough to copy.
    """

    num_retries: int = 3
    num_no_delay_retries: int = 0
    num_min_delay_retries: int = 0
    num_max_delay_retries: int = 0
    min_delay_target: float = 20.0
    max_delay_target: float = 20.0
    backoff_function: Literal["linear", "exponential"] = "linear"

    def __post_init__(self) -> None:
        counts = (
            self.num_retries,
            self.num_no_delay_retries,
            self.num_min_delay_retries,
            self.num_max_delay_retries,
        )
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
            raise ConfigurationError("a delivery policy's retry counts are integers >= 0")
        if sum(counts[1:]) > self.num_retries:
            raise ConfigurationError(
                "num_no_delay_retries + num_min_delay_retries + num_max_delay_retries must not "
                "exceed num_retries"
            )
        if not 0 < self.min_delay_target <= self.max_delay_target:
            raise ConfigurationError("delays must satisfy 0 < min_delay_target <= max_delay_target")
        if self.backoff_function not in ("linear", "exponential"):
            raise ConfigurationError(
                f"backoff_function must be 'linear' or 'exponential', not {self.backoff_function!r}"
            )

    @classmethod
    def from_sns(cls, policy: Mapping[str, Any]) -> DeliveryPolicy:
        """A policy from SNS's JSON names (``numRetries``, ``minDelayTarget``, ...)."""
        names = {
            "numRetries": "num_retries",
            "numNoDelayRetries": "num_no_delay_retries",
            "numMinDelayRetries": "num_min_delay_retries",
            "numMaxDelayRetries": "num_max_delay_retries",
            "minDelayTarget": "min_delay_target",
            "maxDelayTarget": "max_delay_target",
            "backoffFunction": "backoff_function",
        }
        unknown = set(check_mapping(policy, "delivery_policy", ConfigurationError)) - set(names)
        if unknown:
            raise ConfigurationError(f"unknown delivery policy keys: {', '.join(sorted(unknown))}")
        return cls(**{names[key]: value for key, value in policy.items()})

    @property
    def num_backoff_retries(self) -> int:
        return (
            self.num_retries
            - self.num_no_delay_retries
            - self.num_min_delay_retries
            - self.num_max_delay_retries
        )

    def delays(self) -> Iterator[float]:
        """The wait before each retry, in order (``num_retries`` values)."""
        yield from (0.0 for _ in range(self.num_no_delay_retries))
        yield from (self.min_delay_target for _ in range(self.num_min_delay_retries))
        low, high, steps = self.min_delay_target, self.max_delay_target, self.num_backoff_retries
        for step in range(steps):
            fraction = step / (steps - 1) if steps > 1 else 0.0
            if self.backoff_function == "exponential":
                yield low * math.pow(high / low, fraction)
            else:
                yield low + (high - low) * fraction
        yield from (self.max_delay_target for _ in range(self.num_max_delay_retries))

    def total_delay(self) -> float:
        return sum(self.delays())

    def delay_of(self, retry: int) -> float | None:
        """The wait before retry ``retry`` (0: the first), None past ``num_retries``; the
        same values :meth:`delays` yields, computed directly (a stored delivery resumes from
        its count after a restart)."""
        if not 0 <= retry < self.num_retries:
            return None
        if retry < self.num_no_delay_retries:
            return 0.0
        retry -= self.num_no_delay_retries
        if retry < self.num_min_delay_retries:
            return self.min_delay_target
        retry -= self.num_min_delay_retries
        steps = self.num_backoff_retries
        if retry < steps:
            low, high = self.min_delay_target, self.max_delay_target
            fraction = retry / (steps - 1) if steps > 1 else 0.0
            if self.backoff_function == "exponential":
                return low * math.pow(high / low, fraction)
            return low + (high - low) * fraction
        return self.max_delay_target

    def next_retry(self, retries: int, age: float, rng: random.Random) -> float | GiveUp:
        delay = self.delay_of(retries)
        return GiveUp("RetriesExhausted") if delay is None else delay


HTTP_DEFAULT_POLICY = DeliveryPolicy()
"""SNS's default for HTTP/S: up to 3 retries, 20 seconds apart."""

AWS_MANAGED_POLICY = DeliveryPolicy(
    num_retries=100_014,
    num_no_delay_retries=3,
    num_min_delay_retries=2,
    num_max_delay_retries=99_999,
    min_delay_target=1.0,
    max_delay_target=20.0,
    backoff_function="exponential",
)
"""SNS's fixed policy for Lambda and SQS: 100,015 attempts over about 23 days (the first
attempt, 3 immediate retries, 2 one second apart, 10 backing off from 1 to 20 s, then every
20 s)."""


def backoff_delay(retry: int, rng: random.Random) -> float:
    """The wait before retry ``retry`` (0 for the first retry).

    ``ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**retry)`` and the delay is ``ceiling``
    times a factor in ``(1 - BACKOFF_JITTER, 1]``: "exponential backoff with jitter" keeps
    retries of many events from arriving together, and the cap of 10 minutes makes 185
    retries last about 22 hours, the same order as the 24-hour default age.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(retry, 30))
    return ceiling * (1.0 - BACKOFF_JITTER * rng.random())


@dataclass(frozen=True, slots=True)
class BackoffPolicy(RetryPolicy):
    """EventBridge's retry policy: up to ``max_retries`` retries with exponential backoff and
    jitter (:func:`backoff_delay`), none that would come after ``max_event_age`` seconds."""

    max_retries: int
    max_event_age: float

    def next_retry(self, retries: int, age: float, rng: random.Random) -> float | GiveUp:
        if retries >= self.max_retries:
            return GiveUp("MaximumRetryAttempts")
        delay = backoff_delay(retries, rng)
        if age + delay > self.max_event_age:
            return GiveUp("MaximumEventAgeInSeconds")
        return delay
