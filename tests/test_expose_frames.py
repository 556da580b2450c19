"""The exposure's rule on the frames the relay learns from CDP, and what it reads from the wire (pure: no browser).

The end-to-end tests (``test_expose_rule.py``) show the rule against a real remote browser;
these pin each branch, including the shapes a hostile browser or page could send.
"""

from __future__ import annotations

import json

import pytest

from pytest_steel._browser.expose import LocalExposure
from pytest_steel._browser.frames import FrameMap
from pytest_steel._browser.intercept import _preflight, _request_headers
from pytest_steel._browser.socket_grants import plain as _plain
from pytest_steel._browser.socket_grants import site as _site
from pytest_steel._browser.socket_grants import socket_payload as _socket_payload

APP = "http://127.0.0.1:8000"
PUBLIC = "http://evil.example"


def _map() -> FrameMap:
    frames = FrameMap(LocalExposure(("app.test",)).is_local)
    frames.attached({"sessionId": "S", "targetInfo": {"targetId": "TOP", "type": "page", "url": "about:blank"}})
    return frames


def _navigate(frames: FrameMap, frame_id: str, url: str, parent: str | None = None) -> None:
    frames.frame_navigated({"id": frame_id, "url": url, **({"parentId": parent} if parent else {})})


def _paused(frame_id: str, kind: str = "XHR", origin: str | None = None) -> dict:
    headers = {"Origin": origin} if origin else {}
    return {"frameId": frame_id, "resourceType": kind, "request": {"url": APP + "/x", "headers": headers}}


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, "inherits"),
        ("about:blank", "inherits"),
        ("about:srcdoc", "inherits"),
        ("data:text/html,x", "inherits"),
        ("blob:null/1", "inherits"),
        (f"blob:{APP}/1", "local"),
        (f"blob:{PUBLIC}/1", "public"),
        (APP + "/", "local"),
        ("http://localhost:3000/", "local"),
        ("http://[::1]:3000/", "local"),
        ("http://app.test/", "local"),
        ("http://127.evil.example/", "public"),
        ("http://localhost.evil.example/", "public"),
        ("file:///etc/passwd", "public"),
        ("chrome-error://chromewebdata/", "public"),
        (PUBLIC + "/", "public"),
    ],
)
def test_each_document_kind(url: str | None, kind: str) -> None:
    assert _map().kind(url) == kind


def test_the_tests_own_blank_page_and_a_local_page_may_ask() -> None:
    frames = _map()
    assert frames.allows_request("S", _paused("TOP"))  # the test's own about:blank (or set_content) page
    _navigate(frames, "TOP", APP + "/")
    assert frames.allows_request("S", _paused("TOP"))


def test_a_public_page_and_every_blank_frame_under_it_is_refused() -> None:
    frames = _map()
    _navigate(frames, "TOP", PUBLIC + "/")
    frames.frame_attached({"frameId": "BLANK", "parentFrameId": "TOP"})  # never navigated: inherits
    _navigate(frames, "SRCDOC", "about:srcdoc", parent="TOP")
    _navigate(frames, "DATA", "data:text/html,x", parent="TOP")
    for frame in ("TOP", "BLANK", "SRCDOC", "DATA"):
        assert not frames.allows_request("S", _paused(frame))


def test_a_public_frame_in_a_local_page_is_refused_and_its_blank_children_too() -> None:
    frames = _map()
    _navigate(frames, "TOP", APP + "/")
    _navigate(frames, "PUB", PUBLIC + "/frame", parent="TOP")
    _navigate(frames, "UNDER", "about:srcdoc", parent="PUB")
    _navigate(frames, "LOCAL", APP + "/frame", parent="TOP")
    assert not frames.allows_request("S", _paused("PUB"))
    assert not frames.allows_request("S", _paused("UNDER"))
    assert frames.allows_request("S", _paused("LOCAL"))


def test_a_public_origin_header_is_refused_whatever_the_frames_say() -> None:
    frames = _map()
    _navigate(frames, "TOP", APP + "/")
    assert not frames.allows_request("S", _paused("TOP", origin=PUBLIC))
    assert frames.allows_request("S", _paused("TOP", origin="null"))  # opaque: the frames decide
    assert frames.allows_request("S", _paused("TOP", origin="http://localhost:3000"))


def test_top_level_navigations_go_whoever_started_them_but_a_public_pages_frames_do_not() -> None:
    frames = _map()
    _navigate(frames, "TOP", PUBLIC + "/")
    assert frames.allows_request("S", _paused("TOP", kind="Document", origin=PUBLIC))  # a form POST, an OAuth redirect
    frames.frame_attached({"frameId": "CHILD", "parentFrameId": "TOP"})
    assert not frames.allows_request("S", _paused("CHILD", kind="Document"))  # an iframe of the public page
    assert not frames.allows_request("S", _paused("UNKNOWN", kind="Document"))  # no such page target


def test_a_blank_popup_is_its_openers() -> None:
    frames = _map()
    _navigate(frames, "TOP", PUBLIC + "/")
    popup = {"targetId": "POP", "type": "page", "url": "", "openerId": "TOP", "openerFrameId": "TOP"}
    frames.attached({"sessionId": "P", "targetInfo": popup})
    assert not frames.allows_request("P", _paused("POP"))
    _navigate(frames, "POP", APP + "/")  # once it is on the app, it is the app's document
    assert frames.allows_request("P", _paused("POP"))
    _navigate(frames, "TOP", APP + "/")
    _navigate(frames, "POP", "about:blank")
    assert frames.allows_request("P", _paused("POP"))  # a blank popup of a local page


def test_unknown_frames_loops_and_deep_chains_are_refused() -> None:
    frames = _map()
    assert not frames.allows_request("S", _paused("NOWHERE"))
    assert not frames.allows_request("S", {"resourceType": "XHR", "request": {}})
    _navigate(frames, "A", "about:blank", parent="B")
    _navigate(frames, "B", "about:blank", parent="A")
    assert not frames.trusted("A")
    _navigate(frames, "TOP", APP + "/")
    parent = "TOP"
    for depth in range(70):
        _navigate(frames, f"D{depth}", "about:srcdoc", parent=parent)
        parent = f"D{depth}"
    assert frames.trusted("D10")
    assert not frames.trusted("D69")


def test_a_sockets_document_and_origin_come_from_its_execution_context() -> None:
    frames = _map()
    _navigate(frames, "TOP", APP + "/page")
    _navigate(frames, "DATA", "data:text/html,x", parent="TOP")
    frames.context_created("S", {"id": 3, "auxData": {"frameId": "TOP"}})
    frames.context_created("S", {"id": 4, "auxData": {"frameId": "DATA"}})
    assert frames.allows_context("S", 3) == (True, APP)
    assert frames.allows_context("S", 4) == (True, "null")
    assert frames.allows_context("S", 99) == (False, None)
    assert frames.allows_context("OTHER", 3) == (False, None)


def test_playwrights_socket_call_is_read_and_nothing_else_is() -> None:
    created = {
        "o": [
            {"k": "type", "v": "onCreate"},
            {"k": "id", "v": "abc"},
            {"k": "url", "v": "ws://127.0.0.1:1/ws"},
            {"k": "protocols", "v": {"a": ["graphql-ws", 7], "id": 2}},
        ],
        "id": 1,
    }
    payload = json.dumps({"name": "__pwWebSocketBinding", "seq": 1, "serializedArgs": [created]})
    assert _socket_payload(payload) == ("abc", "ws://127.0.0.1:1/ws", ["graphql-ws"])
    other = json.dumps({"name": "someoneElse", "serializedArgs": [created]})
    assert _socket_payload(other) is None
    assert _socket_payload("not json onCreate") is None
    assert _socket_payload(None) is None
    assert _plain({"v": "undefined"}) is None


def test_what_goes_to_the_app_and_what_counts_as_a_preflight() -> None:
    headers = _request_headers(
        None, {"Host": "x", "Connection": "keep-alive", "Cookie": "a=1", "Accept-Encoding": "br"}
    )
    assert headers == {"Cookie": "a=1", "Accept-Encoding": "gzip, deflate"}
    overridden = _request_headers([{"name": "X-Token", "value": "1"}], {"Cookie": "a=1"})
    assert overridden == {"X-Token": "1", "Accept-Encoding": "gzip, deflate"}
    options = {"method": "OPTIONS", "headers": {"Access-Control-Request-Method": "GET"}}
    assert _preflight({"request": options})
    assert not _preflight({"request": {"method": "OPTIONS", "headers": {}}})
    assert _site("http://127.0.0.1:8000/x") == "127.0.0.1"
    assert _site("http://a.b.example:80/") == "b.example"
    assert _site("http://[::1]:80/") == "[::1]"
