"""A session's context, as Steel defines it: restored from ``sessionContext`` on create, read by ``/context``.

What is restored, and when:

- **cookies**, every field Steel defines that Chromium takes (``httpOnly``, ``secure``,
  ``sameSite``, ``expires``, ``priority``, ``sourceScheme``, ``sourcePort``,
  ``partitionKey``), set in the browser before the create is answered;
- **localStorage** and **sessionStorage**, keyed by host name as Steel keys them, put
  in place by a script that runs before any of the page's own in the first document
  of that host: localStorage once per session, sessionStorage once per tab (it is
  per-tab storage). A ``ContextAgent`` keeps a CDP connection for this while the
  session lives, only for sessions created with storage to restore;
- **indexedDB** is not written into the browser: the server keeps what the create
  gave and returns it from ``/context``, so a context round-trips unchanged.

Reading takes the browser's cookies, and the storage of every page open on an
http(s) URL, plus restored storage whose host no page has visited yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from .cdp import CDPConnection, CDPError
from .pipe import BrowserPipe

log = logging.getLogger("pytest_steel.local")

BINDING = "__steelContextRestored"
READY_TIMEOUT = 5.0  # seconds for the open pages to take the restore script
# Cookie fields Steel and CDP share; Steel's ``size``, ``session`` and ``sameParty`` are not set, only reported.
_COOKIE_PARAMS = (
    "name",
    "value",
    "url",
    "domain",
    "path",
    "secure",
    "httpOnly",
    "sameSite",
    "expires",
    "priority",
    "sourceScheme",
    "sourcePort",
    "partitionKey",
)
_COOKIE_REPORTED = (*_COOKIE_PARAMS[:2], *_COOKIE_PARAMS[3:], "size", "session")

_SCRIPT = """(() => {
  const report = window[%(binding)s];
  try { delete window[%(binding)s]; } catch (e) {}
  const host = location.hostname, local = %(local)s[host], session = %(session)s[host];
  if (!local && !session) return;
  try {
    for (const [k, v] of Object.entries(local || {})) localStorage.setItem(k, v);
    for (const [k, v] of Object.entries(session || {})) sessionStorage.setItem(k, v);
  } catch (e) {}
  if (report) report(host);
})();"""

_READ = """JSON.stringify([location.protocol, location.hostname, ...[localStorage, sessionStorage].map(s => {
  const items = {};
  for (let i = 0; i < s.length; i++) { const k = s.key(i); items[k] = s.getItem(k); }
  return items;
})])"""


def cookie_param(cookie: dict[str, Any]) -> dict[str, Any]:
    """A Steel cookie as CDP's ``Network.CookieParam``: a session cookie has no ``expires``."""
    param = {k: cookie[k] for k in _COOKIE_PARAMS if cookie.get(k) is not None}
    if cookie.get("session"):
        param.pop("expires", None)
    if "sourcePort" in param:
        param["sourcePort"] = int(param["sourcePort"])
    return param


def steel_cookie(cookie: dict[str, Any]) -> dict[str, Any]:
    """A CDP cookie as Steel's: ``expires`` only where the cookie has one."""
    steel = {k: cookie[k] for k in _COOKIE_REPORTED if cookie.get(k) is not None}
    if steel.get("session") or steel.get("expires", 0) < 0:
        steel.pop("expires", None)
    if not isinstance(steel.get("partitionKey"), dict):
        steel.pop("partitionKey", None)  # older Chromium reports a string, which Steel's model does not take
    return steel


@dataclass
class _Tab:
    script_id: str | None = None
    session: dict[str, dict[str, str]] = field(default_factory=dict)  # sessionStorage still to restore here


class ContextAgent:
    """Puts restored storage in place for a session's pages, from create until the session ends."""

    def __init__(self, cdp: CDPConnection, local: dict[str, dict[str, str]], session: dict[str, dict[str, str]]):
        self._cdp = cdp
        self._local = dict(local)  # localStorage still to restore, per host, for the whole session
        self._session = session  # sessionStorage each new tab starts with
        self._tabs: dict[str, _Tab] = {}  # by CDP session id
        self._tasks: set[asyncio.Task[None]] = set()
        self._expected: set[str] = set()  # pages open at create: each must take the script before it is answered
        self._prepared: set[str] = set()
        self._ready = asyncio.Event()

    @classmethod
    async def start(cls, pipe: BrowserPipe | None, context: dict[str, Any]) -> ContextAgent | None:
        """Restore ``context`` into a new browser; an agent stays only when there is storage to restore."""
        cdp = await CDPConnection.open(pipe)
        try:
            if context.get("cookies"):
                await cdp.send("Storage.setCookies", {"cookies": [cookie_param(c) for c in context["cookies"]]})
            local, session = context.get("localStorage") or {}, context.get("sessionStorage") or {}
            if not (local or session):
                await cdp.close()
                return None
            agent = cls(cdp, local, session)
            await agent._watch_pages()
            return agent
        except BaseException:
            await cdp.close()
            raise

    def _detached(self, params: dict[str, Any], _session: str | None) -> None:
        self._tabs.pop(params.get("sessionId", ""), None)

    async def _watch_pages(self) -> None:
        self._cdp.on("Target.attachedToTarget", self._attached)
        self._cdp.on("Target.detachedFromTarget", self._detached)
        self._cdp.on("Runtime.bindingCalled", self._restored)
        targets = (await self._cdp.send("Target.getTargets"))["targetInfos"]
        self._expected = {t["targetId"] for t in targets if t.get("type") == "page"}
        if not self._expected:
            self._ready.set()
        await self._cdp.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True, "filter": [{"type": "page"}]},
        )
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("restoring a session context: not every open page took the restore script in time")

    def _attached(self, params: dict[str, Any], _: str | None) -> None:
        info = params.get("targetInfo", {})
        if info.get("type") != "page":
            return
        self._spawn(self._prepare(params["sessionId"], info["targetId"], bool(params.get("waitingForDebugger"))))

    async def _prepare(self, cdp_session: str, target_id: str, waiting: bool) -> None:
        tab = self._tabs[cdp_session] = _Tab(session={h: dict(v) for h, v in self._session.items()})
        try:
            await self._cdp.send("Page.enable", {}, cdp_session)  # scripts for new documents need it
            await self._cdp.send("Runtime.enable", {}, cdp_session)  # and bindingCalled events this
            await self._cdp.send("Runtime.addBinding", {"name": BINDING}, cdp_session)
            await self._install(cdp_session, tab)
        except CDPError as exc:
            log.warning("restoring a session context into a page: %s", exc)
        finally:
            self._prepared.add(target_id)
            if self._expected <= self._prepared:
                self._ready.set()
            if waiting:
                try:
                    await self._cdp.send("Runtime.runIfWaitingForDebugger", {}, cdp_session)
                except CDPError:
                    pass

    async def _install(self, cdp_session: str, tab: _Tab) -> None:
        if tab.script_id is not None:
            await self._cdp.send("Page.removeScriptToEvaluateOnNewDocument", {"identifier": tab.script_id}, cdp_session)
            tab.script_id = None
        if not (self._local or tab.session):
            return
        source = _SCRIPT % {
            "binding": json.dumps(BINDING),
            "local": json.dumps(self._local),
            "session": json.dumps(tab.session),
        }
        answer = await self._cdp.send("Page.addScriptToEvaluateOnNewDocument", {"source": source}, cdp_session)
        tab.script_id = answer.get("identifier")

    def _restored(self, params: dict[str, Any], cdp_session: str | None) -> None:
        """A document of ``host`` took its storage: no later document gets it again (per session, per tab)."""
        if params.get("name") != BINDING or cdp_session not in self._tabs:
            return
        host = params.get("payload", "")
        self._local.pop(host, None)
        self._tabs[cdp_session].session.pop(host, None)
        self._spawn(self._reinstall())

    async def _reinstall(self) -> None:
        for cdp_session, tab in list(self._tabs.items()):
            try:
                await self._install(cdp_session, tab)
            except CDPError:
                continue  # the tab closed meanwhile

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        """Storage restored but not yet taken by any page: still part of the session's context."""
        session: dict[str, dict[str, str]] = {}
        for tab in self._tabs.values():
            for host, items in tab.session.items():
                session.setdefault(host, items)
        return dict(self._local), session

    @property
    def cdp(self) -> CDPConnection:
        return self._cdp

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._cdp.close()


async def read_context(
    pipe: BrowserPipe | None, agent: ContextAgent | None, indexed_db: dict[str, Any]
) -> dict[str, Any]:
    """The live session's context in Steel's shape."""
    cdp = agent.cdp if agent is not None else await CDPConnection.open(pipe)
    try:
        cookies = [steel_cookie(c) for c in (await cdp.send("Storage.getCookies"))["cookies"]]
        local, session = agent.pending() if agent is not None else ({}, {})
        targets = (await cdp.send("Target.getTargets"))["targetInfos"]
        for target in targets:
            if target.get("type") != "page" or not target.get("url", "").startswith(("http://", "https://")):
                continue
            read = await _read_storage(cdp, target["targetId"])
            if read is not None:
                host, page_local, page_session = read
                local[host] = page_local
                session[host] = {**session.get(host, {}), **page_session}
    finally:
        if agent is None:
            await cdp.close()
    return {
        "cookies": cookies,
        "localStorage": {h: v for h, v in local.items() if v},
        "sessionStorage": {h: v for h, v in session.items() if v},
        "indexedDB": indexed_db,
    }


async def _read_storage(cdp: CDPConnection, target_id: str) -> tuple[str, dict[str, str], dict[str, str]] | None:
    """One page's host, localStorage and sessionStorage; None when the page cannot say (navigating, closed)."""
    try:
        attached = await cdp.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})
    except CDPError:
        return None
    cdp_session = attached["sessionId"]
    try:
        answer = await cdp.send("Runtime.evaluate", {"expression": _READ, "returnByValue": True}, cdp_session)
        _, host, local, session = json.loads(answer["result"]["value"])
        return host, local, session
    except (CDPError, KeyError, TypeError, ValueError):
        return None
    finally:
        try:
            await cdp.send("Target.detachFromTarget", {"sessionId": cdp_session})
        except CDPError:
            pass
