"""Who asked: the frames of one CDP connection, as the relay sees them go by, and the exposure's rule.

The rule (``docs/local-app.md``): the test machine answers a request only where a local
browser would have let the asking document read the answer. So the decision rests on the
document that asked, never on the URL of the frame alone:

- a top-level navigation (the test's ``goto``, a link, a form, a redirect back from an
  OAuth provider) is always answered: its answer becomes a new document, which the page
  that started it cannot read;
- any other request is answered only when every frame from the asking one up to the top
  is on an exposed origin, or is a blank, ``srcdoc``, ``data:`` or ``blob:`` document that
  inherits from that chain; a top-level blank document must have no opener, or a trusted
  one; and a request that carries a public ``Origin`` is refused whatever the frames say.

Everything here is learned from the messages themselves (``Target.attachedToTarget``,
``Page.frameAttached``, ``Page.frameNavigated``, ``Page.getFrameTree``'s answer,
``Runtime.executionContextCreated``): what the browser says of a frame is untrusted input
too, so anything unknown is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_MAX_DEPTH = 64  # frames nested deeper than this are refused, not walked


@dataclass
class Frame:
    parent: str | None = None
    url: str | None = None  # None: the initial empty document, which inherits from its parent or opener
    opener: str | None = None  # a top frame's opener frame (or opener page's main frame)


@dataclass
class Target:
    target_id: str
    kind: str  # CDP's targetInfo.type: page, iframe, worker, ...


@dataclass
class FrameMap:
    """The frames, targets and execution contexts of one connection, and who may reach the test machine."""

    is_local: Callable[[str], bool]
    frames: dict[str, Frame] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)  # by CDP session id
    contexts: dict[tuple[str, int], str] = field(default_factory=dict)  # (session id, context id) -> frame id

    # -- what the browser says ------------------------------------------------------------

    def attached(self, params: dict[str, Any]) -> Target | None:
        """``Target.attachedToTarget``: a page or frame target; a page's main frame id is its target id."""
        info = params.get("targetInfo") or {}
        session, target_id, kind = params.get("sessionId"), info.get("targetId"), info.get("type")
        if not (isinstance(session, str) and isinstance(target_id, str) and isinstance(kind, str)):
            return None
        target = self.targets[session] = Target(target_id, kind)
        if kind == "page":
            frame = self.frames.setdefault(target_id, Frame())
            url = info.get("url")
            if isinstance(url, str) and url:
                frame.url = url
            opener = info.get("openerFrameId") or info.get("openerId")
            if isinstance(opener, str) and opener:
                frame.opener = opener
        elif kind == "iframe":
            self.frames.setdefault(target_id, Frame())
        return target

    def detached(self, params: dict[str, Any]) -> None:
        session = params.get("sessionId")
        if isinstance(session, str):
            self.targets.pop(session, None)
            for key in [k for k in self.contexts if k[0] == session]:
                del self.contexts[key]

    def frame_attached(self, params: dict[str, Any]) -> None:
        frame_id, parent = params.get("frameId"), params.get("parentFrameId")
        if isinstance(frame_id, str):
            frame = self.frames.setdefault(frame_id, Frame())
            frame.parent = parent if isinstance(parent, str) else None

    def frame_navigated(self, frame: dict[str, Any]) -> None:
        """``Page.frameNavigated``'s frame, or one node of ``Page.getFrameTree``."""
        frame_id = frame.get("id")
        if not isinstance(frame_id, str):
            return
        known = self.frames.setdefault(frame_id, Frame())
        parent = frame.get("parentId")
        if isinstance(parent, str):
            known.parent = parent
        url = frame.get("url")
        known.url = (url + (frame.get("urlFragment") or "")) if isinstance(url, str) else None

    def navigated_within_document(self, params: dict[str, Any]) -> None:
        frame = self.frames.get(params.get("frameId") or "")
        url = params.get("url")
        if frame is not None and isinstance(url, str):
            frame.url = url

    def frame_tree(self, tree: dict[str, Any]) -> None:
        """The answer to the driver's ``Page.getFrameTree``: frames that existed before the connection."""
        stack = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("frame"), dict):
                    self.frame_navigated(node["frame"])
                stack.extend(node.get("childFrames") or [])

    def context_created(self, session: str, context: dict[str, Any]) -> None:
        aux = context.get("auxData") or {}
        if isinstance(context.get("id"), int) and isinstance(aux.get("frameId"), str):
            self.contexts[(session, context["id"])] = aux["frameId"]

    # -- the rule --------------------------------------------------------------------------

    def allows_request(self, session: str, paused: dict[str, Any]) -> bool:
        """May the test machine answer this ``Fetch.requestPaused`` request to an exposed host?"""
        frame_id = paused.get("frameId")
        frame = self.frames.get(frame_id) if isinstance(frame_id, str) else None
        if paused.get("resourceType") == "Document" and isinstance(frame_id, str):
            if frame is not None and frame.parent is not None:
                return self.trusted(frame.parent)  # a frame's navigation: its parent's document asked
            # a top-level navigation, whoever started it: its answer is a new document the starter cannot read
            return any(t.target_id == frame_id and t.kind == "page" for t in self.targets.values())
        origin = _header(paused.get("request") or {}, "origin")
        if origin and origin != "null" and not self.is_local(origin):
            return False
        return isinstance(frame_id, str) and self.trusted(frame_id)

    def allows_context(self, session: str, context_id: Any) -> tuple[bool, str | None]:
        """May the document of this execution context reach the test machine; and its origin (for a socket)."""
        frame_id = self.contexts.get((session, context_id)) if isinstance(context_id, int) else None
        if frame_id is None or not self.trusted(frame_id):
            return False, None
        return True, self.origin_of(frame_id)

    def trusted(self, frame_id: str) -> bool:
        """Every document from this frame up to the top is local, or blank and inheriting from a trusted one."""
        seen: set[str] = set()
        current: str | None = frame_id
        while current is not None:
            if current in seen or len(seen) >= _MAX_DEPTH:
                return False
            seen.add(current)
            frame = self.frames.get(current)
            if frame is None:
                return False
            kind = self.kind(frame.url)
            if kind == "public":
                return False
            if frame.parent is not None:
                current = frame.parent
                continue
            if kind == "local" or frame.opener is None:
                return True
            current = frame.opener  # a blank top document opened by another page is that page's
        return False

    def origin_of(self, frame_id: str) -> str | None:
        """The origin a trusted frame's document has: its own, or the one it inherits; None for an opaque one."""
        seen: set[str] = set()
        current: str | None = frame_id
        while current is not None and current not in seen:
            seen.add(current)
            frame = self.frames.get(current)
            if frame is None:
                return None
            if frame.url and frame.url.startswith("data:"):
                return "null"
            if self.kind(frame.url) == "local":
                return _origin(_inner(frame.url or ""))
            current = frame.parent if frame.parent is not None else frame.opener
        return None

    def kind(self, url: str | None) -> str:
        """``local`` (an exposed origin), ``inherits`` (blank, srcdoc, data, a blob of those), or ``public``."""
        if not url or url.startswith(("about:", "data:")):
            return "inherits"
        inner = _inner(url)
        if inner != url:
            return "inherits" if not inner or inner.startswith("null") else self.kind(inner)  # blob:null/...: opaque
        if url.split(":", 1)[0].lower() in ("http", "https", "ws", "wss") and self.is_local(url):
            return "local"
        return "public"


def _inner(url: str) -> str:
    return url[5:] if url.startswith("blob:") else url


def _origin(url: str) -> str | None:
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme.lower()}://{host.lower()}" if scheme and host else None


def _header(request: dict[str, Any], name: str) -> str | None:
    for key, value in (request.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None
