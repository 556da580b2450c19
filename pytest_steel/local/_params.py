"""Validation of request bodies and queries: every rejection names the field and its valid range."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from typing import Any

from .._wire import (
    DEFAULT_DIMENSIONS,
    DEFAULT_LIST_LIMIT,
    DEFAULT_TIMEOUT_MS,
    MAX_DIMENSION,
    MAX_LIST_LIMIT,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    SessionStatus,
)


class InvalidRequest(ValueError):
    """A 400: the message is shown to the client as is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True)
class CreateParams:
    """What a create request asks for, validated; unknown fields are dropped."""

    session_id: str | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    inactivity_timeout_ms: int | None = None
    width: int = DEFAULT_DIMENSIONS["width"]
    height: int = DEFAULT_DIMENSIONS["height"]
    user_agent: str | None = None
    headless: bool = True


@dataclasses.dataclass(frozen=True)
class ListQuery:
    status: SessionStatus | None
    cursor_id: str | None
    limit: int


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as ``{}`` (what ``create()`` with no fields means)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {type(value).__name__}")
    return value


def _integer(body: dict[str, Any], field: str, low: int, high: int, unit: str = "") -> int | None:
    if field not in body or body[field] is None:
        return None
    value = body[field]
    # JSON has one number type: accept 1500.0, refuse 1500.5, true and "1500".
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be an integer from {low} to {high}{unit}, got {json.dumps(value)}", field)
    return value


def _boolean(body: dict[str, Any], field: str) -> bool | None:
    if field not in body or body[field] is None:
        return None
    if not isinstance(body[field], bool):
        raise InvalidRequest(f"{field} must be true or false, got {json.dumps(body[field])}", field)
    return body[field]


def canonical_uuid(value: object) -> str | None:
    """The canonical lower-case form of a UUID string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def parse_create(body: dict[str, Any]) -> CreateParams:
    """Validate the fields the local server acts on; all other Steel fields are accepted and ignored."""
    fields: dict[str, Any] = {}
    if body.get("sessionId") is not None:
        session_id = canonical_uuid(body["sessionId"])
        if session_id is None:
            raise InvalidRequest(f"sessionId must be a UUID string, got {json.dumps(body['sessionId'])}", "sessionId")
        fields["session_id"] = session_id

    ms = " (milliseconds)"
    timeout = _integer(body, "timeout", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, ms)
    if timeout is not None:
        fields["timeout_ms"] = timeout
    inactivity = _integer(body, "inactivityTimeout", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, ms)
    if inactivity is not None:
        fields["inactivity_timeout_ms"] = inactivity

    if body.get("dimensions") is not None:
        dimensions = body["dimensions"]
        if not isinstance(dimensions, dict) or not {"width", "height"} <= dimensions.keys():
            raise InvalidRequest(
                f"dimensions must be an object with integer width and height, got {json.dumps(dimensions)}",
                "dimensions",
            )
        for side in ("width", "height"):
            try:
                value = _integer(dimensions, side, 1, MAX_DIMENSION)
            except InvalidRequest as exc:
                raise InvalidRequest(f"dimensions.{exc}", "dimensions") from None
            if value is None:
                raise InvalidRequest(f"dimensions.{side} must be an integer from 1 to {MAX_DIMENSION}", "dimensions")
            fields[side] = value

    if body.get("userAgent") is not None:
        user_agent = body["userAgent"]
        if not isinstance(user_agent, str) or not user_agent.strip() or "\n" in user_agent:
            raise InvalidRequest(
                f"userAgent must be a non-empty single-line string, got {json.dumps(user_agent)}", "userAgent"
            )
        fields["user_agent"] = user_agent

    headless = _boolean(body, "headless")
    if headless is not None:
        fields["headless"] = headless
    return CreateParams(**fields)


def parse_list_query(query: dict[str, str]) -> ListQuery:
    status: SessionStatus | None = None
    if query.get("status"):
        try:
            status = SessionStatus(query["status"])
        except ValueError:
            allowed = ", ".join(s.value for s in SessionStatus)
            raise InvalidRequest(f"status must be one of {allowed}, got {query['status']!r}", "status") from None
    limit = DEFAULT_LIST_LIMIT
    if query.get("limit"):
        raw = query["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {raw!r}", "limit")
        limit = int(raw)
    return ListQuery(status=status, cursor_id=query.get("cursorId") or None, limit=limit)
