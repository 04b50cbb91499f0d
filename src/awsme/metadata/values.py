"""Small conversions every source needs, so that all sources speak the same way:
missing values are None, times are ISO 8601 in UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def text_or_none(value: Any) -> str | None:
    """A JSON scalar as a string; None for missing or empty values (services send "")."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso_utc(datetime.now(UTC))


def rfc1123_to_iso(value: str | None) -> str | None:
    """EC2 and Azure events use RFC 1123 dates ("Mon, 11 Apr 2022 22:26:58 GMT",
    "21 Jan 2019 09:00:43 GMT"); anything unparsable is passed on as it came."""
    if value is None:
        return None
    try:
        return iso_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return value
