"""What the simulator remembers between requests: tokens, triggers and the request log."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from .data import InstanceData, Node, render_json

SPOT_ACTIONS: Final = ("terminate", "stop", "hibernate")
# The event codes and the descriptions the EC2 documentation shows for them.
MAINTENANCE_CODES: Final[Mapping[str, str]] = {
    "instance-reboot": "The instance is scheduled for a reboot",
    "system-reboot": "The system is scheduled for a reboot",
    "system-maintenance": "The system is scheduled for maintenance",
    "instance-retirement": "The instance is scheduled for retirement",
    "instance-stop": "The instance is scheduled to stop",
}
MAINTENANCE_WINDOW: Final = 2 * 3600.0  # NotAfter - NotBefore, a typical window
REQUEST_LOG_LIMIT: Final = 10_000  # a long-running simulator must not grow without bound


class RequestRecord(TypedDict):
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class SpotNotice:
    action: str
    at: float  # epoch seconds

    def document(self) -> dict[str, str]:
        return {"action": self.action, "time": _iso(self.at)}


@dataclass(frozen=True, slots=True)
class ScheduledEvent:
    code: str
    event_id: str
    not_before: float  # epoch seconds
    not_after: float

    def document(self) -> dict[str, str]:
        # Keys and date format as the EC2 docs show events/maintenance/scheduled.
        return {
            "Code": self.code,
            "Description": MAINTENANCE_CODES[self.code],
            "EventId": self.event_id,
            "NotAfter": _rfc1123(self.not_after),
            "NotBefore": _rfc1123(self.not_before),
            "State": "active",
        }


class SimulatorState:
    """Mutable state of one simulator app; lives on ``app.state.simulator``."""

    def __init__(
        self,
        data: InstanceData,
        *,
        require_token: bool = False,
        token_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= token_delay < float("inf"):
            raise ValueError(
                f"token_delay must be a finite number of seconds >= 0, not {token_delay}"
            )
        self.data = data
        self.require_token = require_token
        self.token_delay = token_delay
        self.clock = clock
        self.tokens: dict[str, float] = {}  # token -> expiry (clock time)
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.request_count = 0
        self._spot: SpotNotice | None = None
        self._events: list[ScheduledEvent] = []
        # The data never changes, so the dynamic/ tree is built once; meta-data is
        # rebuilt only when a trigger changes spot/ or events/.
        self._dynamic: Mapping[str, Node] = {
            "instance-identity": {"document": render_json(data.identity_document())}
        }
        self.root: Mapping[str, Node] = {}
        self._rebuild()

    # Tokens

    def issue_token(self, ttl: int) -> str:
        now = self.clock()
        # Forget expired tokens here so a client that asks for one per request stays bounded.
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        token = secrets.token_urlsafe(42)
        self.tokens[token] = now + ttl
        return token

    def token_valid(self, token: str) -> bool:
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > self.clock()

    # Triggers

    @property
    def spot(self) -> SpotNotice | None:
        return self._spot

    @property
    def events(self) -> tuple[ScheduledEvent, ...]:
        return tuple(self._events)

    def set_spot(self, action: str, in_seconds: float) -> None:
        if action not in SPOT_ACTIONS:
            raise ValueError(f"spot action must be one of {', '.join(SPOT_ACTIONS)}")
        self._spot = SpotNotice(action, self.clock() + _delay(in_seconds))
        self._rebuild()

    def clear_spot(self) -> None:
        self._spot = None
        self._rebuild()

    def add_event(self, code: str, in_seconds: float) -> ScheduledEvent:
        if code not in MAINTENANCE_CODES:
            raise ValueError(f"maintenance code must be one of {', '.join(MAINTENANCE_CODES)}")
        start = self.clock() + _delay(in_seconds)
        event = ScheduledEvent(
            code=code,
            event_id="instance-event-" + secrets.token_hex(9)[:17],
            not_before=start,
            not_after=start + MAINTENANCE_WINDOW,
        )
        self._events.append(event)
        self._rebuild()
        return event

    def clear_events(self) -> None:
        self._events.clear()
        self._rebuild()

    # Request log

    def record(self, method: str, path: str) -> None:
        self.request_count += 1
        self.requests.append({"method": method, "path": path})

    def clear_requests(self) -> None:
        self.requests.clear()
        self.request_count = 0

    def summary(self) -> dict[str, Any]:
        return {
            "require_token": self.require_token,
            "token_delay": self.token_delay,
            "spot": self._spot.document() if self._spot else None,
            "maintenance": [event.document() for event in self._events],
            "requests": self.request_count,
        }

    def _rebuild(self) -> None:
        meta: dict[str, Node] = dict(self.data.meta_data)
        meta["events"] = {
            "maintenance": {"scheduled": render_json([e.document() for e in self._events])}
        }
        if self._spot is not None:
            spot: dict[str, Node] = {"instance-action": render_json(self._spot.document())}
            if self._spot.action != "hibernate":
                # The legacy item, present when the instance will stop or terminate.
                spot["termination-time"] = _iso(self._spot.at)
            meta["spot"] = spot
        self.root = {"latest": {"dynamic": self._dynamic, "meta-data": meta}}


def _delay(seconds: float) -> float:
    if not 0 <= seconds < float("inf"):  # also refuses nan
        raise ValueError(f"a trigger delay must be a finite number of seconds >= 0, not {seconds}")
    return seconds


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _rfc1123(epoch: float) -> str:
    return time.strftime("%d %b %Y %H:%M:%S GMT", time.gmtime(epoch))
