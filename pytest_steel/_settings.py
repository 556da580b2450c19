"""Options, ini twins and environment variables, resolved once per process with their source.

Precedence is command line, then environment, then ini file, then default; the
report header shows every effective value and where it came from. Everything is
validated here, in ``pytest_configure``, before anything starts, so a bad value
is a usage error (exit 4) that leaves nothing behind.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from ._redaction import Redacted, display_url
from ._wire import (
    CHROMIUM_ENV,
    DEFAULT_TIMEOUT_MS,
    MAX_POOL_SIZE,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    STEEL_CLOUD_URL,
    normalize_base_url,
)

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
TIMEOUT_RANGE = "a positive duration of at most 24 h: milliseconds (300000) or 30s, 10m, 1h (1 to 86400000 ms)"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SCOPES = ("function", "module")
ARTIFACT_FIELDS = ("screenshot", "tracing")  # steel marker fields that choose artifacts, not create fields
SCREENSHOT_MODES = ("off", "on", "only-on-failure")
TRACING_MODES = ("off", "on", "retain-on-failure")
DEFAULT_OUTPUT = "test-results"


def parse_timeout_ms(value: object) -> int:
    """``300000``, ``"300000"``, ``"30s"``, ``"10m"``, ``"1h"`` to milliseconds; ValueError outside 1 ms..24 h."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        ms = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError
        amount = float(match.group(1)) * _UNIT_MS[(match.group(2) or "ms").lower()]
        if amount != int(amount):
            raise ValueError
        ms = int(amount)
    if not MIN_TIMEOUT_MS <= ms <= MAX_TIMEOUT_MS:
        raise ValueError
    return ms


def timeout_error(where: str, value: object) -> str:
    return f"{where}: {value!r} is not a valid session timeout; give {TIMEOUT_RANGE}"


class Backend(enum.Enum):
    EMBEDDED = "embedded"
    SERVER = "server"
    CLOUD = "cloud"


@dataclass(frozen=True)
class Setting(Generic[T]):
    value: T
    source: str  # "--steel-timeout", "STEEL_BASE_URL", "ini steel_timeout", "default"

    @property
    def is_default(self) -> bool:
        return self.source == "default"


@dataclass(frozen=True)
class _Spec:
    name: str  # the ini name; the option is --steel-<name with dashes>
    help: str
    env: str | None = None
    flag: bool = False

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


_SPECS = {
    spec.name: spec
    for spec in (
        _Spec("steel_timeout", "session timeout: milliseconds, or 30s, 10m, 1h (default 300000, at most 24 h)"),
        _Spec("steel_base_url", "base URL of a Steel-compatible server", env="STEEL_BASE_URL"),
        _Spec("steel_api_key", "Steel API key; alone, it selects Steel Cloud", env="STEEL_API_KEY"),
        _Spec("steel_local", "use the embedded local server even if a base URL or key is set", flag=True),
        _Spec("steel_session_scope", "lifetime of steel_session and its browser: function (default) or module"),
        _Spec("steel_chromium", "browser binary for the embedded server", env=CHROMIUM_ENV),
        _Spec("steel_headed", "embedded server only: show the browser windows", flag=True),
        _Spec("steel_max_sessions", "sessions the server runs at once (default: detected)"),
        _Spec(
            "steel_pool_size",
            "embedded server only: browsers kept running ahead of need (default: from the number of cores; 0: none)",
        ),
        _Spec("steel_screenshot", "screenshot each test's pages: off, on or only-on-failure (default)"),
        _Spec("steel_tracing", "record a Playwright trace of each test: off (default), on or retain-on-failure"),
        _Spec("steel_output", f"folder for screenshots and traces, one subfolder per test (default {DEFAULT_OUTPUT})"),
        _Spec(
            "steel_report_debug_url",
            "also put each session's debugUrl in reports (on Steel Cloud it is an unauthenticated, interactive "
            "live view: anyone with the report can drive the browser)",
            flag=True,
        ),
    )
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("steel", "pytest-steel: managed browser sessions")
    for spec in _SPECS.values():
        env = f" [env {spec.env}]" if spec.env else ""
        if spec.flag:
            group.addoption(
                spec.option, action="store_const", const="true", dest=spec.name, default=None, help=spec.help
            )
        else:
            group.addoption(spec.option, dest=spec.name, default=None, metavar="VALUE", help=spec.help + env)
        parser.addini(spec.name, spec.help + env, default="")
    help_release_all = (
        "at the end of the run, release every live session the backend lists (default on; on Steel Cloud "
        "that is every live session of the organisation)"
    )
    group.addoption(
        "--steel-release-all",
        action="store_const",
        const="true",
        dest="steel_release_all",
        default=None,
        help=help_release_all,
    )
    group.addoption(
        "--no-steel-release-all",
        action="store_const",
        const="false",
        dest="steel_release_all",
        help="turn the end-of-run release-all safety net off",
    )
    parser.addini("steel_release_all", "the end-of-run release-all safety net: true (default) or false", default="")


def _raw(config: pytest.Config, name: str, env: str | None, environ: dict[str, str]) -> tuple[str | None, str]:
    """The winning raw value and its source label, or (None, "default")."""
    option = _SPECS[name].option if name in _SPECS else "--" + name.replace("_", "-")
    value = config.getoption(name, None)
    if value is not None:
        if name == "steel_release_all" and value == "false":
            option = "--no-steel-release-all"
        return str(value), option
    if env and environ.get(env):
        return environ[env], env
    ini = str(config.getini(name) or "").strip()
    if ini:
        return ini, f"ini {name}"
    return None, "default"


def _bool(raw: str, where: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise pytest.UsageError(f"{where}: {raw!r} is not a boolean; use true or false")


def _choice(value: str | None, source: str, choices: tuple[str, ...], default: str, what: str) -> Setting[str]:
    if value is None:
        return Setting(default, source)
    if value not in choices:
        raise pytest.UsageError(f"{source}: {value!r} is not a {what}; use {', '.join(choices[:-1])} or {choices[-1]}")
    return Setting(value, source)


def _wiped_by_pytest_playwright(config: pytest.Config) -> Path | None:
    if not config.pluginmanager.has_plugin("playwright"):
        return None
    folder = config.getoption("output", None)
    return Path(os.path.abspath(folder)) if isinstance(folder, str) else None


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it lies below it, as pytest shows paths."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _rank(source: str) -> int:
    if source.startswith("--"):
        return 0
    if source.startswith("ini "):
        return 2
    if source == "default":
        return 3
    return 1


@dataclass(frozen=True)
class Settings:
    timeout_ms: Setting[int]
    base_url: Setting[str | None]
    api_key: Setting[Redacted | None]
    local: Setting[bool]
    session_scope: Setting[str]
    release_all: Setting[bool]
    chromium: Setting[str | None]
    headed: Setting[bool]
    max_sessions: Setting[int | None]
    backend: Setting[Backend]
    pool_size: Setting[int | None]
    screenshot: Setting[str]
    tracing: Setting[str]
    output: Setting[Path]
    report_debug_url: Setting[bool]

    @classmethod
    def resolve(cls, config: pytest.Config, environ: dict[str, str]) -> Settings:
        def raw(name: str) -> tuple[str | None, str]:
            spec = _SPECS.get(name)
            return _raw(config, name, spec.env if spec else None, environ)

        value, source = raw("steel_timeout")
        try:
            timeout = Setting(parse_timeout_ms(value) if value is not None else DEFAULT_TIMEOUT_MS, source)
        except ValueError:
            raise pytest.UsageError(timeout_error(source, value)) from None

        value, source = raw("steel_base_url")
        try:
            base_url = Setting(normalize_base_url(value) if value else None, source)
        except ValueError as exc:
            raise pytest.UsageError(f"{source}: {exc}") from None

        value, source = raw("steel_api_key")
        api_key: Setting[Redacted | None] = Setting(Redacted(value) if value else None, source)

        value, source = raw("steel_local")
        local = Setting(_bool(value, source) if value else False, source)

        value, source = raw("steel_session_scope")
        if value is not None and value not in SCOPES:
            raise pytest.UsageError(f"{source}: {value!r} is not a session scope; use function or module")
        scope = Setting(value or "function", source)

        value, source = raw("steel_release_all")
        release_all = Setting(_bool(value, source) if value else True, source)

        value, source = raw("steel_headed")
        headed = Setting(_bool(value, source) if value else False, source)

        value, source = raw("steel_max_sessions")
        max_sessions: Setting[int | None] = Setting(None, source)
        if value is not None:
            if not value.isdigit() or not 1 <= int(value) <= 10_000:
                raise pytest.UsageError(
                    f"{source}: {value!r} is not a session count; use a whole number from 1 to 10000"
                )
            max_sessions = Setting(int(value), source)

        backend = cls._backend(local, base_url, api_key)

        if headed.value and headed.source.startswith("--") and backend.value is not Backend.EMBEDDED:
            raise pytest.UsageError(
                f"{headed.source} applies to the embedded server only, and the backend is chosen by {backend.source}"
            )

        value, source = raw("steel_chromium")
        chromium: Setting[str | None] = Setting(value, source)
        if value and backend.value is Backend.EMBEDDED:
            from ._chromium import ChromiumNotFoundError, find_chromium  # only for an explicit binary

            try:  # an explicit path is checked now; discovery waits until a session is needed
                find_chromium(value, explicit_source=source)
            except ChromiumNotFoundError as exc:
                raise pytest.UsageError(str(exc)) from None

        value, source = raw("steel_pool_size")
        pool_size: Setting[int | None] = Setting(None, source)
        if value is not None:
            if not value.isdigit() or int(value) > MAX_POOL_SIZE:
                raise pytest.UsageError(
                    f"{source}: {value!r} is not a pool size; use a whole number from 0 to {MAX_POOL_SIZE}"
                )
            pool_size = Setting(int(value), source)

        screenshot = _choice(*raw("steel_screenshot"), SCREENSHOT_MODES, "only-on-failure", "screenshot mode")
        tracing = _choice(*raw("steel_tracing"), TRACING_MODES, "off", "tracing mode")

        value, source = raw("steel_output")
        if source.startswith("ini ") and config.inipath is not None:
            base = config.inipath.parent  # an ini path is relative to the ini file, as pytest's own are
        else:
            base = config.invocation_params.dir
        output = Setting(base / (value or DEFAULT_OUTPUT), source)
        wiped = _wiped_by_pytest_playwright(config)
        if value is None and wiped is not None and wiped == output.value:
            # pytest-playwright empties its --output folder when each process starts (each xdist worker
            # too), which would take artifacts of tests that already ran on another worker with it.
            output = Setting(
                output.value.with_name(output.value.name + "-steel"),
                f"default; pytest-playwright empties {DEFAULT_OUTPUT}",
            )

        value, source = raw("steel_report_debug_url")
        report_debug_url = Setting(_bool(value, source) if value else False, source)

        return cls(
            timeout,
            base_url,
            api_key,
            local,
            scope,
            release_all,
            chromium,
            headed,
            max_sessions,
            backend,
            pool_size,
            screenshot,
            tracing,
            output,
            report_debug_url,
        )

    @staticmethod
    def _backend(
        local: Setting[bool], base_url: Setting[str | None], api_key: Setting[Redacted | None]
    ) -> Setting[Backend]:
        if local.value and base_url.value:
            if _rank(local.source) == _rank(base_url.source):
                raise pytest.UsageError(f"{local.source} and {base_url.source} both choose a backend; keep one of them")
            if _rank(local.source) < _rank(base_url.source):
                return Setting(Backend.EMBEDDED, local.source)
            return Setting(Backend.SERVER, base_url.source)
        if local.value:
            return Setting(Backend.EMBEDDED, local.source)
        if base_url.value:
            return Setting(Backend.SERVER, base_url.source)
        if api_key.value:
            return Setting(Backend.CLOUD, api_key.source)
        return Setting(Backend.EMBEDDED, "default")

    @property
    def server_url(self) -> str | None:
        """The backend's base URL, or None for the embedded server (known once it starts)."""
        if self.backend.value is Backend.SERVER:
            return self.base_url.value
        if self.backend.value is Backend.CLOUD:
            return STEEL_CLOUD_URL
        return None

    @property
    def headless(self) -> bool:
        return not (self.headed.value and self.backend.value is Backend.EMBEDDED)

    def header_lines(self) -> list[str]:
        backend = self.backend.value
        if backend is Backend.EMBEDDED:
            where = "embedded local server, started when a test first needs a session"
        elif backend is Backend.CLOUD:
            where = f"Steel Cloud at {STEEL_CLOUD_URL}"
        else:
            where = f"Steel-compatible server at {display_url(self.base_url.value or '')}"
        shown: list[tuple[str, str, Setting[Any]]] = [
            ("timeout", f"{self.timeout_ms.value} ms", self.timeout_ms),
            ("scope", self.session_scope.value, self.session_scope),
            ("release-all", "on" if self.release_all.value else "off", self.release_all),
            ("api key", "set" if self.api_key.value else "none", self.api_key),
        ]
        if self.max_sessions.value is not None:
            shown.append(("max sessions", str(self.max_sessions.value), self.max_sessions))
        if backend is Backend.EMBEDDED:
            shown.append(("headed", "yes" if self.headed.value else "no", self.headed))
            if self.pool_size.value is not None:
                shown.append(("pool", str(self.pool_size.value), self.pool_size))
            if self.chromium.value:
                shown.append(("chromium", str(Path(self.chromium.value)), self.chromium))
        details = ", ".join(f"{name} {value} ({setting.source})" for name, value, setting in shown)
        artifacts: list[tuple[str, str, Setting[Any]]] = [
            ("screenshot", self.screenshot.value, self.screenshot),
            ("tracing", self.tracing.value, self.tracing),
            ("output", shown_path(self.output.value), self.output),
        ]
        if self.report_debug_url.value:
            artifacts.append(("debug urls", "in reports", self.report_debug_url))
        lines = [
            f"steel: {where} ({self.backend.source})",
            f"steel: {details}",
            "steel: " + ", ".join(f"{name} {value} ({setting.source})" for name, value, setting in artifacts),
        ]
        if backend is Backend.CLOUD and self.release_all.value:
            lines.append(
                "steel: release-all at the end of the run reaches every live session of the organisation "
                "(turn it off with --no-steel-release-all)"
            )
        return lines
