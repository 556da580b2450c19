"""Validation of request bodies and queries: every rejection names the field and its valid range.

The wire side only: JSON in, the server core's own types out (``CreateParams``, ``ListQuery``
in ``local/_session_params.py``, ``InvalidRequest`` in ``local/_http_errors.py``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..._client.wire import (
    DEFAULT_LIST_LIMIT,
    MAX_DIMENSION,
    MAX_LIST_LIMIT,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    RECORD_VIDEO_FIELD,
    SessionStatus,
)
from .._http_errors import InvalidRequest
from .._session_params import CreateParams, ListQuery, canonical_uuid

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # NUL cannot reach exec; a newline would end a header


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
    except RecursionError:  # json's decoder recurses per level: 100 000 nested arrays exhaust the stack
        raise InvalidRequest("request body nests too deeply to be a Steel request") from None
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


# Steel Cloud's create fields that this server accepts and does not act on (it has no proxies, captcha
# solving, profiles or extensions): a create that sets one is told so in IGNORED_FIELDS_HEADER.
CLOUD_ONLY_FIELDS = (
    "blockAds",
    "solveCaptcha",
    "useProxy",
    "proxyUrl",
    "region",
    "isSelenium",
    "persistProfile",
    "profileId",
    "projectId",
    "namespace",
    "debugConfig",
    "deviceConfig",
    "stealthConfig",
    "optimizeBandwidth",
    "credentials",
    "extensionIds",
    "experimentalFeatures",
    "caCertificates",
    "fullscreen",
    "concurrency",
)


def ignored_fields(body: dict[str, Any]) -> list[str]:
    """The Steel Cloud fields ``body`` sets to something other than off or empty."""
    return [name for name in CLOUD_ONLY_FIELDS if body.get(name) not in (None, False, "", [], {})]


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
        if not isinstance(user_agent, str) or not user_agent.strip() or _CONTROL.search(user_agent):
            raise InvalidRequest(
                "userAgent must be a non-empty single-line string without control characters, "
                f"got {json.dumps(user_agent)}",
                "userAgent",
            )
        fields["user_agent"] = user_agent

    headless = _boolean(body, "headless")
    if headless is not None:
        fields["headless"] = headless
    if body.get("sessionContext") is not None:
        fields["context"] = parse_session_context(body["sessionContext"])
    if _boolean(body, RECORD_VIDEO_FIELD):
        fields["record_video"] = True
    return CreateParams(**fields)


_COOKIE_STRINGS = ("name", "value", "domain", "path", "url")
_COOKIE_BOOLS = ("httpOnly", "secure", "session", "sameParty")
_COOKIE_NUMBERS = ("expires", "size", "sourcePort")
_COOKIE_CHOICES = {
    "sameSite": ("Strict", "Lax", "None"),
    "priority": ("Low", "Medium", "High"),
    "sourceScheme": ("Unset", "NonSecure", "Secure"),
}


def _kind(value: object) -> str:
    """What a rejected value is, without echoing it: a context's values are cookies and tokens."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _choices(options: tuple[str, ...]) -> str:
    return f"{', '.join(options[:-1])} or {options[-1]}"


def _cookie(cookie: object, where: str) -> dict[str, Any]:
    if not isinstance(cookie, dict):
        raise InvalidRequest(f"{where} must be an object, got {_kind(cookie)}", where)
    for name in ("name", "value"):
        if not isinstance(cookie.get(name), str):
            raise InvalidRequest(f"{where}.{name} must be a string", f"{where}.{name}")
    for name in _COOKIE_STRINGS[2:]:
        if cookie.get(name) is not None and not isinstance(cookie[name], str):
            raise InvalidRequest(f"{where}.{name} must be a string", f"{where}.{name}")
    for name in _COOKIE_BOOLS:
        if cookie.get(name) is not None and not isinstance(cookie[name], bool):
            raise InvalidRequest(f"{where}.{name} must be true or false", f"{where}.{name}")
    for name in _COOKIE_NUMBERS:
        value = cookie.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise InvalidRequest(f"{where}.{name} must be a number", f"{where}.{name}")
    for name, options in _COOKIE_CHOICES.items():
        if cookie.get(name) is not None and cookie[name] not in options:
            raise InvalidRequest(f"{where}.{name} must be {_choices(options)}", f"{where}.{name}")
    key = cookie.get("partitionKey")
    if key is not None and not (
        isinstance(key, dict)
        and isinstance(key.get("topLevelSite"), str)
        and isinstance(key.get("hasCrossSiteAncestor"), bool)
    ):
        raise InvalidRequest(
            f"{where}.partitionKey must be an object with topLevelSite (a string) and hasCrossSiteAncestor "
            "(true or false)",
            f"{where}.partitionKey",
        )
    if not cookie.get("domain") and not cookie.get("url"):
        raise InvalidRequest(f"{where} needs a domain or a url to say where the cookie belongs", where)
    return cookie


def _storage(value: object, where: str) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(items, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in items.items())
        for items in value.values()
    ):
        raise InvalidRequest(f"{where} must map each host name to an object of strings", where)
    return value


def parse_session_context(value: object) -> dict[str, Any]:
    """Steel's ``sessionContext``, checked field by field; what the server cannot use is named in the 400."""
    where = "sessionContext"
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object, got {_kind(value)}", where)
    cookies = value.get("cookies")
    if cookies is not None and not isinstance(cookies, list):
        raise InvalidRequest(f"{where}.cookies must be a list of cookies", f"{where}.cookies")
    indexed = value.get("indexedDB")
    if indexed is not None and not (
        isinstance(indexed, dict)
        and all(isinstance(dbs, list) and all(isinstance(d, dict) for d in dbs) for dbs in indexed.values())
    ):
        raise InvalidRequest(f"{where}.indexedDB must map each host name to a list of databases", f"{where}.indexedDB")
    return {
        "cookies": [_cookie(c, f"{where}.cookies[{i}]") for i, c in enumerate(cookies or [])],
        "localStorage": _storage(value.get("localStorage"), f"{where}.localStorage"),
        "sessionStorage": _storage(value.get("sessionStorage"), f"{where}.sessionStorage"),
        "indexedDB": indexed or {},
    }


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
