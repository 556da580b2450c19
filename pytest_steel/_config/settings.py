"""Options, ini twins and environment variables, resolved once per process with their source.

The table is the ``Settings`` class itself: each field names its option, ini twin,
environment variable, parser and default once, so a new option is one new field.
Precedence is command line, then environment, then ini file, then default; the
report header shows every effective value and where it came from. Everything is
validated in ``pytest_configure``, before anything starts, so a bad value is a usage
error (exit 4) that names the option and the valid range, and leaves nothing behind.

Over 400 lines on purpose: it is the one table of every option (about forty fields, each
with its help, parser, range, whether it chooses an artifact kind and its row in the report
header), and splitting a table would give an option two homes.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from .._client.limits import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CHROMIUM_ENV,
    DEFAULT_HTTP_TIMEOUT,
    HTTP_TIMEOUT_RANGE,
    MAX_SESSIONS,
    PLAYWRIGHT_ENV,
    POOL_SIZE,
    PREFETCH,
    REQUESTS_PER_MINUTE,
    SLOWMO,
    TIMEOUT_RANGE,
    Count,
    parse_seconds,
    parse_timeout_ms,
)
from .._client.profile import STEEL_BROWSER, BackendProfile, configured
from .._client.redaction import Redacted, display_url
from .._client.wire import DEFAULT_TIMEOUT_MS, STEEL_CLOUD_URL, normalize_base_url

T = TypeVar("T")

DEFAULT_PLAN_WAIT_MS = 180_000
# Steel's inactivityTimeout, so that a killed run's sessions stop metering: long enough that a test waiting
# on its app (no CDP command meanwhile) does not trip it; off under --steel-debug, where a test waits on a person.
DEFAULT_INACTIVITY_MS = 300_000
RELEASE_MODES = ("all", "own", "off", "auto")
SCOPES = ("function", "module", "session")
CONNECTION_FIELDS = ("expose_local", "expose_hosts")  # steel marker fields for the browser connection
EXPOSE_MODES = ("auto", "on", "off")
SCREENSHOT_MODES = ("off", "on", "only-on-failure")
TRACING_MODES = ("off", "on", "retain-on-failure")
RECORDING_MODES = ("off", "on", "retain-on-failure")
DOWNLOADS_MODES = ("off", "on", "retain-on-failure")
DEFAULT_OUTPUT = "test-results"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Backend(enum.Enum):
    EMBEDDED = "embedded"
    SERVER = "server"
    CLOUD = "cloud"


@dataclass(frozen=True)
class Setting(Generic[T]):
    value: T
    source: str  # "--steel-timeout", "STEEL_BASE_URL", "ini steel_timeout", "default"

    @property
    def rank(self) -> int:
        """0 command line, 1 environment, 2 ini, 3 default: which of two settings was given more directly."""
        if self.source.startswith("--"):
            return 0
        if self.source.startswith("ini "):
            return 2
        return 3 if self.source.startswith("default") else 1


# -- parsers: text in, value out; ValueError says what would have been accepted --


def parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean; use true or false")


def _choice(what: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not a {what}; use {', '.join(choices[:-1])} or {choices[-1]}")
        return text

    return parse


def _count(limit: Count) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return limit.parse(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a {limit.what}; use {limit.range}") from None

    return parse


def _timeout(text: str) -> int:
    try:
        return parse_timeout_ms(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid session timeout; give {TIMEOUT_RANGE}") from None


def _wait(text: str) -> int:
    """A duration like a timeout's, or 0 for no wait."""
    if text.strip() == "0":
        return 0
    try:
        return _timeout(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid wait; give 0 or {TIMEOUT_RANGE}") from None


def _inactivity(text: str) -> int:
    """A duration like a timeout's, or ``off`` (0): how long a session may go without a CDP command."""
    if text.strip().lower() in _FALSE:
        return 0
    try:
        return parse_timeout_ms(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid inactivity timeout; give off or {TIMEOUT_RANGE}") from None


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid HTTP timeout; give {HTTP_TIMEOUT_RANGE}") from None


def _release_mode(text: str) -> str:
    """``all``, ``own``, ``off`` or ``auto``; the switch's true and false (and older ini files') mean all and off."""
    lowered = text.strip().lower()
    if lowered in RELEASE_MODES:
        return lowered
    return "all" if parse_bool(lowered) else "off"


def _hosts(text: str) -> tuple[str, ...]:
    from .._browser.expose import parse_hosts

    return parse_hosts([text])


def _base_url(text: str) -> str | None:
    return normalize_base_url(text) if text else None


def _api_key(text: str) -> Redacted | None:
    return Redacted(text) if text else None


# -- the table --


@dataclass(frozen=True)
class Shown:
    """Where a setting shows in the report header: its line, its order on it, its label and its text.

    ``text`` gets the settings and the setting's value, and answers None where the row is left
    out (an option at its default that says nothing); ``of`` names a derived setting to show,
    with its own source, instead of the field's.
    """

    line: int  # 1: the sessions line, 2: the artifacts line
    order: int
    label: str
    text: Callable[[Settings, Any], str | None]
    of: Callable[[Settings], Setting[Any]] | None = None


def _always(text: Callable[[Any], str]) -> Callable[[Settings, Any], str]:
    return lambda _, value: text(value)


def _unless_none(text: Callable[[Any], str] = str) -> Callable[[Settings, Any], str | None]:
    return lambda _, value: None if value is None else text(value)


def _when_set(text: str) -> Callable[[Settings, Any], str | None]:
    return lambda _, value: text if value else None


@dataclass(frozen=True)
class Option:
    """One row of the table: how a setting is spelled, parsed and defaulted."""

    name: str  # the ini name; the option is --steel-<name with dashes>
    help: str
    parse: Callable[[str], Any]
    default: Any = None
    env: str | None = None
    flag: bool = False  # a switch: --steel-local, not --steel-local VALUE
    negative: str | None = None  # a switch's opposite: --no-steel-release-all
    choices: tuple[str, ...] = ()  # a mode's values
    artifact: bool = False  # a mode that chooses an artifact kind: the steel marker's field of its name, never sent
    shown: Shown | None = None  # its place in the report header, if it has one

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def add_to(self, parser: pytest.Parser, group: pytest.OptionGroup) -> None:
        env = f" [env {self.env}]" if self.env else ""
        if self.flag:
            group.addoption(self.option, action="store_const", const="true", dest=self.name, help=self.help)
            if self.negative:
                group.addoption(
                    self.negative, action="store_const", const="false", dest=self.name, help=f"turn {self.option} off"
                )
        else:
            group.addoption(self.option, dest=self.name, metavar="VALUE", help=self.help + env)
        parser.addini(self.name, self.help + env, default="")

    def resolve(self, config: pytest.Config, environ: Mapping[str, str]) -> Setting[Any]:
        raw, source = self._raw(config, environ)
        if raw is None:
            return Setting(self.default, "default")
        try:
            return Setting(self.parse(raw), source)
        except ValueError as exc:
            raise pytest.UsageError(f"{source}: {exc}") from None

    def _raw(self, config: pytest.Config, environ: Mapping[str, str]) -> tuple[str | None, str]:
        value = config.getoption(self.name, None)
        if value is not None:
            if self.negative is not None and value == "false":
                return str(value), self.negative
            return str(value), self.option
        if self.env and environ.get(self.env):
            return environ[self.env], self.env
        ini = str(config.getini(self.name) or "").strip()
        if ini:
            return ini, f"ini {self.name}"
        return None, "default"


def _mode(name: str, what: str, choices: tuple[str, ...], default: str, does: str, **more: Any) -> Any:
    """A row whose value is one of ``choices``; its help lists them and names the default."""
    listed = ", ".join(f"{c} (default)" if c == default else c for c in choices)
    return _option(name, f"{does}: {listed}", _choice(what, choices), default, choices=choices, **more)


def _option(name: str, help: str, parse: Callable[[str], Any], default: Any = None, **more: Any) -> Any:
    option = Option(name, help, parse, default, **more)
    return dataclasses.field(default=Setting(default, "default"), metadata={"option": option})


@dataclass(frozen=True)
class Settings:
    """Every setting with its source. Fields with an ``option`` are the table; the rest are derived."""

    timeout_ms: Setting[int] = _option(
        "steel_timeout",
        "session timeout: milliseconds, or 30s, 10m, 1h (default 300000, at most 24 h)",
        _timeout,
        DEFAULT_TIMEOUT_MS,
        shown=Shown(1, 10, "timeout", _always(lambda v: f"{v} ms")),
    )
    inactivity_ms: Setting[int | None] = _option(
        "steel_inactivity_timeout",
        "release a session after this long without a CDP command from its test (Steel's inactivityTimeout), so "
        "that a killed run's sessions stop metering: a duration like --steel-timeout's, or off (default 5m; off "
        f"with --steel-debug; {STEEL_BROWSER.name} ignores it)",
        _inactivity,
        shown=Shown(1, 50, "inactivity", _always(lambda v: f"{v} ms" if v else "off"), of=lambda s: s.inactivity),
    )
    base_url: Setting[str | None] = _option(
        "steel_base_url", "base URL of a Steel-compatible server", _base_url, env=BASE_URL_ENV
    )
    api_key: Setting[Redacted | None] = _option(
        "steel_api_key",
        "Steel API key; alone, it selects Steel Cloud",
        _api_key,
        env=API_KEY_ENV,
        shown=Shown(1, 40, "api key", _always(lambda v: "set" if v else "none")),
    )
    local: Setting[bool] = _option(
        "steel_local",
        "use the embedded local server even if a key is set; against a base URL the one given at the higher "
        "precedence wins (command line, then environment, then ini: the ini's steel_local loses to STEEL_BASE_URL; "
        "both at one level is a usage error)",
        parse_bool,
        False,
        flag=True,
    )
    session_scope: Setting[str] = _mode(
        "steel_session_scope",
        "session scope",
        SCOPES,
        "function",
        "lifetime of steel_session and its browser: a session per test, per module, or one per process for the run",
        shown=Shown(1, 20, "scope", _always(str)),
    )
    release_all: Setting[str] = _option(
        "steel_release_all",
        "the end-of-run safety net: --steel-release-all releases every live session the key reaches (Steel's "
        "release-all: on Steel Cloud, the organisation's, other CI jobs' too); ini steel_release_all = all, own "
        "(only sessions this run made and lost track of), off or auto (default: all on the embedded server, "
        "whose key is this run's own; own elsewhere)",
        _release_mode,
        "auto",
        flag=True,
        negative="--no-steel-release-all",
        shown=Shown(1, 30, "release-all", lambda s, _: s.safety_net),
    )
    chromium: Setting[str | None] = _option(
        "steel_chromium",
        "browser binary for the embedded server",
        str,
        env=CHROMIUM_ENV,
        shown=Shown(1, 140, "chromium", lambda s, v: str(Path(v)) if v and s.is_embedded else None),
    )
    headed: Setting[bool] = _option(
        "steel_headed",
        "embedded server only: show the browser windows",
        parse_bool,
        False,
        flag=True,
        shown=Shown(1, 120, "headed", lambda s, v: ("yes" if v else "no") if s.is_embedded else None),
    )
    http_timeout: Setting[float] = _option(
        "steel_http_timeout",
        "seconds the Steel API may take to answer one request (default 30); a create retries within three "
        "times that, a release within it",
        _seconds,
        DEFAULT_HTTP_TIMEOUT,
        shown=Shown(1, 70, "http timeout", lambda s, v: f"{v:g} s" if s.http_timeout.source != "default" else None),
    )
    max_sessions: Setting[int | None] = _option(
        "steel_max_sessions",
        "sessions the server runs at once (default: detected)",
        _count(MAX_SESSIONS),
        shown=Shown(1, 60, "max sessions", _unless_none()),
    )
    pool_size: Setting[int | None] = _option(
        "steel_pool_size",
        "embedded server only: browsers kept running ahead of need (default: from the number of cores; 0: none)",
        _count(POOL_SIZE),
        shown=Shown(1, 130, "pool", lambda s, v: str(v) if v is not None and s.is_embedded else None),
    )
    screenshot: Setting[str] = _mode(
        "steel_screenshot",
        "screenshot mode",
        SCREENSHOT_MODES,
        "only-on-failure",
        "screenshot each test's pages",
        artifact=True,
        shown=Shown(2, 10, "screenshot", _always(str)),
    )
    tracing: Setting[str] = _mode(
        "steel_tracing",
        "tracing mode",
        TRACING_MODES,
        "off",
        "record a Playwright trace of each test",
        artifact=True,
        shown=Shown(2, 20, "tracing", _always(str)),
    )
    recording: Setting[str] = _mode(
        "steel_recording",
        "recording mode",
        RECORDING_MODES,
        "off",
        "save a recording of each test's own session (a video on the embedded server, Steel's events on Steel Cloud)",
        artifact=True,
        shown=Shown(2, 30, "recording", _always(str)),
    )
    downloads: Setting[str] = _mode(
        "steel_downloads",
        "downloads mode",
        DOWNLOADS_MODES,
        "retain-on-failure",
        "keep the files a test's own sessions downloaded (their files area) in its artifact folder",
        artifact=True,
        shown=Shown(2, 40, "downloads", _always(str)),
    )
    output: Setting[Path] = _option(
        "steel_output",
        f"folder for screenshots, traces and recordings, one subfolder per test (default {DEFAULT_OUTPUT})",
        Path,
        shown=Shown(2, 50, "output", _always(lambda v: shown_path(v))),
    )
    report_debug_url: Setting[bool] = _option(
        "steel_report_debug_url",
        "also put each session's debugUrl in reports (on Steel Cloud it is an unauthenticated, interactive "
        "live view: anyone with the report can drive the browser)",
        parse_bool,
        False,
        flag=True,
        shown=Shown(2, 60, "debug urls", _when_set("in reports")),
    )
    playwright: Setting[bool] = _option(
        "steel_playwright",
        "run pytest-playwright's browser, context, new_context and page fixtures on Steel sessions",
        parse_bool,
        False,
        env=PLAYWRIGHT_ENV,
        flag=True,
        shown=Shown(1, 80, "pytest-playwright", _when_set("on")),
    )
    debug: Setting[bool] = _option(
        "steel_debug",
        "watch each test: print (and open) its session's live viewer as the session starts, slow actions down, "
        "and keep a failing test's session open until Enter (needs a terminal; not under xdist)",
        parse_bool,
        False,
        flag=True,
        shown=Shown(1, 150, "debug", _when_set("on")),
    )
    prefetch: Setting[int] = _option(
        "steel_prefetch",
        "create up to N next tests' sessions ahead while a test runs, to hide a remote backend's create "
        "latency (default 0: off; per-test sessions only, never on a one-session server)",
        _count(PREFETCH),
        0,
        shown=Shown(1, 90, "prefetch", lambda _, v: str(v) if v else None),
    )
    slowmo: Setting[int | None] = _option(
        "steel_slowmo",
        "milliseconds Playwright waits before each action on a Steel session (default 0; 250 with --steel-debug)",
        _count(SLOWMO),
        shown=Shown(1, 160, "slowmo", _unless_none(lambda v: f"{v} ms")),
    )
    max_requests_per_minute: Setting[int] = _option(
        "steel_max_requests_per_minute",
        "REST requests a minute the whole run (every xdist worker) may send the backend, spaced over any rolling "
        "minute, as a Steel plan allows (Launch 60, Scale 600); default 0: no limit of ours",
        _count(REQUESTS_PER_MINUTE),
        0,
        shown=Shown(1, 100, "requests", lambda s, v: (f"{v}/min" if v else "unlimited") if _rate_shown(s) else None),
    )
    plan_wait_ms: Setting[int] = _option(
        "steel_plan_wait",
        "how long a create the plan refuses (429: its rate, or its concurrent sessions all taken) waits for room "
        "before the test errors: 30s, 3m (default 3m)",
        _wait,
        DEFAULT_PLAN_WAIT_MS,
        shown=Shown(
            1,
            110,
            "plan wait",
            lambda s, v: f"{v / 1000:g} s" if _rate_shown(s) else None,
        ),
    )
    expose_local: Setting[str] = _mode(
        "steel_expose_local",
        "expose-local mode",
        EXPOSE_MODES,
        "auto",
        "answer a session's requests to this machine's localhost, 127.0.0.0/8 and [::1] (any port) from here, over "
        "the session's own connection; auto is on for every backend but the embedded server",
    )
    expose_hosts: Setting[tuple[str, ...]] = _option(
        "steel_expose_host",
        "more host names this machine answers for when expose-local is on, e.g. app.test (comma-separated)",
        _hosts,
        (),
    )
    backend: Setting[Backend] = dataclasses.field(default=Setting(Backend.EMBEDDED, "default"))  # derived

    @staticmethod
    def options() -> list[Option]:
        return [f.metadata["option"] for f in dataclasses.fields(Settings) if "option" in f.metadata]

    @classmethod
    def resolve(cls, config: pytest.Config, environ: Mapping[str, str]) -> Settings:
        """Every option from the table, then the rules that relate two of them."""
        values = {
            f.name: f.metadata["option"].resolve(config, environ)
            for f in dataclasses.fields(cls)
            if "option" in f.metadata
        }
        values["output"] = _output_folder(config, values["output"])
        return cls(**values).with_backend()

    def with_backend(self) -> Settings:
        """These settings with the backend they choose, checked against the options that need one backend."""
        settings = dataclasses.replace(self, backend=self._choose_backend())
        settings._check_combinations()
        return settings

    def _choose_backend(self) -> Setting[Backend]:
        local, base_url = self.local, self.base_url
        if local.value and base_url.value:
            if local.rank == base_url.rank:
                raise pytest.UsageError(f"{local.source} and {base_url.source} both choose a backend; keep one of them")
            return Setting(Backend.EMBEDDED, local.source) if local.rank < base_url.rank else self._server()
        if local.value:
            return Setting(Backend.EMBEDDED, local.source)
        if base_url.value:
            return self._server()
        if self.api_key.value:
            return Setting(Backend.CLOUD, self.api_key.source)
        return Setting(Backend.EMBEDDED, "default")

    def _server(self) -> Setting[Backend]:
        return Setting(Backend.SERVER, self.base_url.source)

    def _check_combinations(self) -> None:
        embedded = self.backend.value is Backend.EMBEDDED
        if self.headed.value and self.headed.rank == 0 and not embedded:
            raise pytest.UsageError(
                f"{self.headed.source} applies to the embedded server only, and the backend is chosen by "
                f"{self.backend.source}"
            )
        if self.chromium.value and embedded:
            from .._browser.chromium import ChromiumNotFoundError, find_chromium  # only for an explicit binary

            try:  # an explicit path is checked now; discovery waits until a session is needed
                find_chromium(self.chromium.value, explicit_source=self.chromium.source)
            except ChromiumNotFoundError as exc:
                raise pytest.UsageError(str(exc)) from None
        if self.recording.value != "off" and self.shared_scope:
            raise pytest.UsageError(
                f"{self.recording.source} {self.recording.value} records each test's own session, and "
                f"{self.session_scope.source} {self.session_scope.value} shares one session among tests: "
                "use --steel-session-scope function (the default) to record"
            )
        if self.recording.value != "off" and embedded:
            from .._browser.ffmpeg import FFmpegNotFoundError, find_ffmpeg  # a few path look-ups

            try:  # the embedded server encodes recordings with it: say so now, not once per test
                find_ffmpeg()
            except FFmpegNotFoundError as exc:
                raise pytest.UsageError(f"{self.recording.source} {self.recording.value}: {exc}") from None

    def exposes_local(self, mode: str | None = None) -> bool:
        """Whether local requests are answered from here, for ``mode`` (a marker's) or the option's."""
        mode = mode or self.expose_local.value
        return mode == "on" or (mode == "auto" and not self.is_embedded)

    def _expose_line(self) -> str:
        setting = self.expose_local
        if not self.exposes_local():
            why = "the embedded server's browsers share this machine" if self.is_embedded else "turned off"
            return f"steel: expose-local off ({setting.source}: {why})"
        from .._browser.expose import LocalExposure

        hosts = LocalExposure(self.expose_hosts.value).describe()
        return f"steel: expose-local on ({setting.source}): session pages reach this machine at {hosts}"

    @property
    def server_url(self) -> str | None:
        """The backend's base URL, or None for the embedded server (known once it starts)."""
        if self.backend.value is Backend.SERVER:
            return self.base_url.value
        if self.backend.value is Backend.CLOUD:
            return STEEL_CLOUD_URL
        return None

    @property
    def is_embedded(self) -> bool:
        return self.backend.value is Backend.EMBEDDED

    @property
    def configured_profile(self) -> BackendProfile:
        """The backend's quirks as the configuration alone tells them: what the run starts from.

        A server by base URL is detected from its first answers: the run's profile is then
        ``BackendAccess.profile`` (``run.backend.profile``), which everything past the start reads.
        """
        return configured(self.backend.value.value)

    @property
    def safety_net(self) -> str:
        """What the end-of-run sweep may release: ``all`` live sessions the key reaches, this run's ``own``, or ``off``.

        ``auto`` is ``all`` only where the plugin can tell that no other run shares the key: the
        embedded server's is this run's own. Elsewhere another CI job may be using the same key.
        """
        mode = self.release_all.value
        if mode == "auto":
            return "all" if self.is_embedded else "own"
        return str(mode)

    @property
    def inactivity(self) -> Setting[int | None]:
        """The inactivityTimeout each session is created with (ms), None for none, and where that came from."""
        given = self.inactivity_ms
        if given.value is None:
            if self.debug.value:
                return Setting(None, f"default with {self.debug.source}")
            return Setting(DEFAULT_INACTIVITY_MS, "default")
        return Setting(given.value or None, given.source)

    @property
    def shared_scope(self) -> bool:
        """Tests share a session: the module's (``module``) or the process's (``session``)."""
        return self.session_scope.value in ("module", "session")

    def header_lines(self) -> list[str]:
        """The report header: the backend, then each effective value with its source (never the key).

        The rows come from the table (each option's ``shown``), in their order on their line.
        """
        backend = self.backend.value
        if backend is Backend.EMBEDDED:
            where = "embedded local server, started after collection when a test uses it"
        elif backend is Backend.CLOUD:
            where = f"Steel Cloud at {STEEL_CLOUD_URL}"
        else:
            where = f"Steel-compatible server at {display_url(self.base_url.value or '')}"
        rows: dict[int, list[tuple[int, str]]] = {1: [], 2: []}
        for field in dataclasses.fields(self):
            shown = field.metadata["option"].shown if "option" in field.metadata else None
            if shown is None:
                continue
            setting = shown.of(self) if shown.of is not None else getattr(self, field.name)
            text = shown.text(self, setting.value)
            if text is not None:
                rows[shown.line].append((shown.order, f"{shown.label} {text} ({setting.source})"))
        lines = [f"steel: {where} ({self.backend.source})"]
        lines += ["steel: " + ", ".join(row for _, row in sorted(rows[line])) for line in (1, 2)]
        lines.append(self._expose_line())
        if backend is Backend.CLOUD and self.safety_net == "all":
            lines.append(
                "steel: release-all at the end of the run reaches every live session of the organisation "
                "(turn it off with --no-steel-release-all)"
            )
        return lines


def _rate_shown(settings: Settings) -> bool:
    """The request rate and the plan wait are shown for a remote backend, or when a rate is set."""
    return not settings.is_embedded or bool(settings.max_requests_per_minute.value)


# The steel marker's fields that choose an artifact kind, and their values: the table's artifact modes.
ARTIFACT_MODES: dict[str, tuple[str, ...]] = {
    field.name: field.metadata["option"].choices
    for field in dataclasses.fields(Settings)
    if "option" in field.metadata and field.metadata["option"].artifact
}
ARTIFACT_FIELDS = tuple(ARTIFACT_MODES)


def _output_folder(config: pytest.Config, given: Setting[Path | None]) -> Setting[Path]:
    """An ini path is relative to the ini file, as pytest's own are; the default steps aside for pytest-playwright."""
    if given.source.startswith("ini ") and config.inipath is not None:
        base = config.inipath.parent
    else:
        base = config.invocation_params.dir
    if given.value is not None:
        return Setting(base / given.value, given.source)
    output = base / DEFAULT_OUTPUT
    if config.pluginmanager.has_plugin("playwright"):
        wiped = config.getoption("output", None)
        if isinstance(wiped, str) and Path(os.path.abspath(wiped)) == output:
            # pytest-playwright empties its --output folder when each process starts (each xdist worker
            # too), which would take artifacts of tests that already ran on another worker with it.
            return Setting(
                output.with_name(output.name + "-steel"), f"default; pytest-playwright empties {DEFAULT_OUTPUT}"
            )
    return Setting(output, "default")


SETTINGS_KEY = pytest.StashKey[Settings]()  # on the config: set in pytest_configure, read through settings_of


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, resolved at configure time: the one way every part of the plugin reads them."""
    return config.stash[SETTINGS_KEY]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("steel", "pytest-steel: managed browser sessions")
    for option in Settings.options():
        option.add_to(parser, group)


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it lies below it, as pytest shows paths."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def options_markdown() -> str:
    """The options as a Markdown table, from the same rows ``pytest --help`` shows (the docs site's options page)."""
    rows = ["| option | ini | env | default | what it does |", "| --- | --- | --- | --- | --- |"]
    for option in Settings.options():
        names = f"`{option.option}`" + (f", `{option.negative}`" if option.negative else "")
        env = f"`{option.env}`" if option.env else ""
        default = "" if option.default in (None, (), "") else f"`{option.default}`"
        if option.flag and option.default is False:
            default = "off"
        text = option.help.replace("|", "\\|")
        rows.append(f"| {names} | `{option.name}` | {env} | {default} | {text} |")
    return "\n".join(rows)
