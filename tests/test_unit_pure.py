"""Fast unit tests of the plugin's pure parts: arithmetic, names, parsing, redaction, slots, backend choice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from pytest_steel import SteelError
from pytest_steel._browser.connection import driver_tmpdir
from pytest_steel._client.http import retry_after
from pytest_steel._client.limits import MAX_SESSIONS, POOL_SIZE, parse_timeout_ms
from pytest_steel._client.models import Session, SessionPage, wire_fields
from pytest_steel._client.redaction import Redacted, display_url, hidden_comparison, redact, shows_secret
from pytest_steel._client.safe_names import UnsafeNameError, inside, inside_relative
from pytest_steel._client.wire import SessionStatus
from pytest_steel._config.settings import Backend, Setting, Settings
from pytest_steel._config.stash import WORKER_SLOTS_KEY
from pytest_steel._reporting.artifacts import folder_for
from pytest_steel._reporting.report import RunReport, SessionRecord, format_ms, summary
from pytest_steel._sessions.backend import BackendAccess
from pytest_steel._sessions.lifecycle import Phase, TrackedSession
from pytest_steel._sessions.slots import SessionSlots, SlotUnavailable
from pytest_steel.local._cli import _no_ca_bundle

# -- summary and billing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0 ms"),
        (999.4, "999 ms"),
        (1_000, "1.0 s"),
        (59_940, "59.9 s"),
        (60_000, "1 min 00 s"),
        (754_000, "12 min 34 s"),
    ],
)
def test_format_ms(ms: float, shown: str) -> None:
    assert format_ms(ms) == shown


@pytest.mark.parametrize(
    ("lifetime", "minutes"), [(None, 0), (0, 0), (1, 1), (60_000, 1), (60_001, 2), (3_600_000, 60)]
)
def test_each_session_is_billed_by_the_minute_rounded_up(lifetime: float | None, minutes: int) -> None:
    assert SessionRecord("s", "t", 1.0, lifetime_ms=lifetime).billed_minutes == minutes


def records() -> list[SessionRecord]:
    return [
        SessionRecord("a", "t1", 50, lifetime_ms=30_000, end="released", state="released (user_requested)"),
        SessionRecord("b", "t2", 200, lifetime_ms=61_000, end="timeout", state="released (timeout)"),
        SessionRecord("c", "t3", 10, lifetime_ms=500, end="failed", state="failed (browser_crashed)"),
    ]


def test_summary_counts_ends_sums_time_and_bills_each_session_rounded_up() -> None:
    assert summary(records(), 0, verbosity=0) == [
        "3 sessions created: 1 released, 1 failed, 1 released by timeout",
        "session time 1 min 32 s; billed 4 min (each session's time rounded up to whole minutes)",
        "slowest creations: 200 ms (t2), 50 ms (t1), 10 ms (t3)",
    ]
    assert summary(records(), 0, verbosity=-1) == [
        "3 sessions (1 released, 1 failed, 1 released by timeout), 1 min 32 s, billed 4 min"
    ]
    verbose = summary(records(), 2, verbosity=1)
    assert verbose[1] == "release-all found 2 more live session(s) this run did not track"
    assert verbose[3] == "sessions, slowest creation first:"
    assert verbose[4] == "  b  create 200 ms, released by timeout after 1 min 01 s [released (timeout)]  t2"
    assert summary([], 0, verbosity=0) == []


def test_run_report_travels_from_worker_to_controller() -> None:
    worker = RunReport()
    for record in records():
        worker.records[record.id] = record
    worker.note("a worker's note")
    controller = RunReport()
    controller.merge_worker_output({"steel_report": worker.to_worker_output(used_steel=True)})
    assert controller.workers_used_steel
    assert controller.records == worker.records
    controller.note("a worker's note")  # said by two workers: shown once
    assert controller.summary(-2) == ["a worker's note"]


# -- wire names, parsing and limits ----------------------------------------------------


def test_wire_fields_accepts_snake_and_camel_case() -> None:
    assert wire_fields({"block_ads": True, "blockAds": False, "session_id": "x", "timeout": 5}) == {
        "blockAds": False,
        "sessionId": "x",
        "timeout": 5,
    }


@pytest.mark.parametrize(
    ("given", "ms"),
    [(1, 1), ("300000", 300_000), ("30s", 30_000), ("10m", 600_000), ("1.5h", 5_400_000), ("24h", 86_400_000)],
)
def test_timeouts_parse_to_milliseconds(given: object, ms: int) -> None:
    assert parse_timeout_ms(given) == ms


@pytest.mark.parametrize("given", [0, -1, True, "25h", "1.5ms", "soon", "86400001"])
def test_timeouts_outside_one_ms_to_a_day_are_refused_with_the_range(given: object) -> None:
    with pytest.raises(ValueError, match="1 to 86400000 ms"):
        parse_timeout_ms(given)


def test_counts_share_one_range_for_plugin_and_server() -> None:
    assert (MAX_SESSIONS.parse("1"), MAX_SESSIONS.parse("10000"), POOL_SIZE.parse("0")) == (1, 10_000, 0)
    for limit, bad in ((MAX_SESSIONS, "0"), (MAX_SESSIONS, "10001"), (POOL_SIZE, "65"), (POOL_SIZE, "-1")):
        with pytest.raises(ValueError, match=f"from {limit.low} to {limit.high}"):
            limit.parse(bad)


def test_a_list_page_says_whether_the_server_pages() -> None:
    assert SessionPage.from_wire({"sessions": [{"id": "a", "status": "live"}], "totalCount": 1}).paged
    steel_browser = SessionPage.from_wire({"sessions": [{"id": "a", "status": "idle"}]})
    assert not steel_browser.paged and steel_browser.sessions[0].status == "idle"


# -- backend choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "backend", "source"),
    [
        ({}, Backend.EMBEDDED, "default"),
        ({"api_key": Setting(Redacted("k"), "STEEL_API_KEY")}, Backend.CLOUD, "STEEL_API_KEY"),
        ({"base_url": Setting("http://h", "ini steel_base_url")}, Backend.SERVER, "ini steel_base_url"),
        (
            {"base_url": Setting("http://h", "STEEL_BASE_URL"), "api_key": Setting(Redacted("k"), "STEEL_API_KEY")},
            Backend.SERVER,
            "STEEL_BASE_URL",
        ),
        (
            {"local": Setting(True, "--steel-local"), "base_url": Setting("http://h", "STEEL_BASE_URL")},
            Backend.EMBEDDED,
            "--steel-local",
        ),
        (
            {"local": Setting(True, "ini steel_local"), "base_url": Setting("http://h", "--steel-base-url")},
            Backend.SERVER,
            "--steel-base-url",
        ),
    ],
)
def test_backend_choice(given: dict, backend: Backend, source: str) -> None:
    chosen = Settings(**given).with_backend().backend
    assert (chosen.value, chosen.source) == (backend, source)


def test_two_backends_given_equally_directly_are_a_usage_error() -> None:
    both = Settings(local=Setting(True, "--steel-local"), base_url=Setting("http://h", "--steel-base-url"))
    with pytest.raises(pytest.UsageError, match="--steel-local and --steel-base-url both choose a backend"):
        both.with_backend()


# -- redaction -------------------------------------------------------------------------------


def test_redaction_hides_the_key_plain_and_url_encoded() -> None:
    key = "k+y/secret"
    text = f"wss://h/?apiKey=k%2By%2Fsecret and {key} and apiKey=k%2By%2Fsecret"
    assert redact(text, key) == "wss://h/?apiKey=*** and *** and apiKey=***"
    assert redact("nothing", None) == "nothing"
    assert repr(Redacted(key)) == "'***'"
    assert shows_secret(Redacted("x"), None) and shows_secret(f"a{key}", key) and not shows_secret("a", key)
    assert display_url("https://user:pw@host:8443/p?q=1") == "https://host:8443/p"
    lines = hidden_comparison(f"u={key}", "==", "other", key)
    assert lines is not None and key not in "".join(lines)
    assert hidden_comparison("a", "==", "b", key) is None


# -- artifact folders -------------------------------------------------------------------------


def item(nodeid: str, execution_count: int = 1) -> pytest.Item:
    return SimpleNamespace(nodeid=nodeid, execution_count=execution_count)  # type: ignore[return-value]


def test_artifact_folders_are_named_like_pytest_playwrights() -> None:
    out = Path("/out")
    assert folder_for(out, item("tests/test_a.py::test_b[x-1]")) == out / "tests-test_a.py-test_b-x-1"
    assert folder_for(out, item("test_a.py::test_b", execution_count=3)) == out / "test_a.py-test_b-retry2"
    long = folder_for(out, item("t.py::" + "x" * 300)).name
    assert len(long) < 200 and long.startswith("t.py-xxx") and long.endswith("xxx")
    assert long != folder_for(out, item("t.py::" + "x" * 301)).name


# -- the session state type -------------------------------------------------------------------


def test_a_tracked_session_moves_through_its_phases_once() -> None:
    tracked = TrackedSession(Session("s", SessionStatus.LIVE), None, "t")
    assert tracked.is_usable and not tracked.is_over
    tracked.close_connection()
    tracked.connection_lost()  # a disconnect we asked for is no loss
    assert tracked.phase is Phase.LIVE
    tracked.closing = False
    tracked.connection_lost()
    assert tracked.phase is Phase.DISCONNECTED and not tracked.is_usable
    timed_out = Session("s", SessionStatus.RELEASED, release_reason="timeout", duration=1500)
    assert tracked.end(timed_out, on_its_own=True)
    assert not tracked.end(Session("s", SessionStatus.RELEASED), on_its_own=False)  # the first word stands
    assert tracked.final is timed_out and tracked.owes_error and tracked.lifetime_ms() == 1500
    assert tracked.mark_reported() and not tracked.mark_reported() and not tracked.owes_error


# -- session slots -----------------------------------------------------------------------------


def test_session_slots_serialise_sessions_across_holders(tmp_path: Path) -> None:
    mine = SessionSlots(tmp_path, "http://h", count=1)
    theirs = SessionSlots(tmp_path, "http://h", count=1)  # another process's, as far as flock is concerned
    mine.acquire("a", wait=1)
    assert mine.holders == ["a"]
    with pytest.raises(SlotUnavailable, match="every slot is held by this process"):
        mine.acquire("b", wait=1)
    with pytest.raises(SlotUnavailable, match="no slot came free in 0 s"):
        theirs.acquire("c", wait=0.1)
    mine.release("a")
    theirs.acquire("c", wait=0.1)
    assert (mine.holders, theirs.holders) == ([], ["c"])
    other_server = SessionSlots(tmp_path, "http://other", count=1)
    other_server.acquire("d", wait=0.1)  # slots are per server


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0"}, None),  # not in (0, 60]: the client's own backoff
        ({"retry-after": "61"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_honoured_only_within_a_minute(headers: dict[str, str], delay: float | None) -> None:
    assert retry_after(httpx.Response(429, headers=headers)) == delay


def test_retry_after_as_an_http_date() -> None:
    from email.utils import formatdate
    from time import time

    asked = time()
    delay = retry_after(httpx.Response(429, headers={"retry-after": formatdate(asked + 30, usegmt=True)}))
    # the date is whole seconds (up to 1 s early), and time passed since it was written
    assert delay is not None and 29 - (time() - asked) <= delay <= 30


# -- nested wire names and session contexts ---------------------------------------------------------


def test_wire_fields_converts_every_level_of_steel_objects() -> None:
    given = {
        "device_config": {"device": "mobile"},  # level 1
        "stealth_config": {"humanize_interactions": True, "skip_fingerprint_injection": False},
        "session_context": {  # level 1, then its fields (level 2), a cookie's (3), its partition key's (4)
            "cookies": [{"name": "sid", "value": "v_1", "http_only": True, "same_site": "Lax",
                         "partition_key": {"top_level_site": "https://a.test", "has_cross_site_ancestor": False}}],
            "local_storage": {"a.test": {"auth_token": "t_1"}},
            "session_storage": {"a.test": {"tab_id": "x"}},
            "indexed_db": {"a.test": [{"id": 1, "name": "db", "data": [{"id": 1, "name": "s", "records": [
                {"key": {"user_id": 1}, "value": {"first_name": "Ada"},
                 "blob_files": [{"blob_number": 1, "mime_type": "a/b", "size": 1}]}
            ]}]}]},
        },
    }  # fmt: skip
    wired = wire_fields(given)
    assert wired["deviceConfig"] == {"device": "mobile"}
    assert wired["stealthConfig"] == {"humanizeInteractions": True, "skipFingerprintInjection": False}
    context = wired["sessionContext"]
    assert set(context) == {"cookies", "localStorage", "sessionStorage", "indexedDB"}
    assert context["cookies"][0] == {
        "name": "sid",
        "value": "v_1",
        "httpOnly": True,
        "sameSite": "Lax",
        "partitionKey": {"topLevelSite": "https://a.test", "hasCrossSiteAncestor": False},
    }
    # The user's own data stays as given: storage keys, host names, indexedDB keys and values.
    assert context["localStorage"] == {"a.test": {"auth_token": "t_1"}}
    assert context["sessionStorage"] == {"a.test": {"tab_id": "x"}}
    record = context["indexedDB"]["a.test"][0]["data"][0]["records"][0]
    assert record["key"] == {"user_id": 1} and record["value"] == {"first_name": "Ada"}
    assert record["blobFiles"] == [{"blobNumber": 1, "mimeType": "a/b", "size": 1}]
    assert wire_fields(wired) == wired  # already on the wire: unchanged


STORAGE_STATE = {
    "cookies": [
        {"name": "sid", "value": "s1", "domain": "127.0.0.1", "path": "/", "expires": -1, "httpOnly": True,
         "secure": False, "sameSite": "Lax"},
        {"name": "pref", "value": "dark", "domain": ".a.test", "path": "/", "expires": 1900000000.5,
         "httpOnly": False, "secure": True, "sameSite": "None"},
    ],
    "origins": [{"origin": "http://127.0.0.1:8123", "localStorage": [{"name": "token", "value": "t1"}]}],
}  # fmt: skip


def test_a_playwright_storage_state_becomes_a_steel_context_and_back(tmp_path: Path) -> None:
    from pytest_steel import SessionContext, context_from_storage_state, storage_state_from_context
    from pytest_steel._client.models import as_session_context

    context = context_from_storage_state(STORAGE_STATE)
    assert isinstance(context, SessionContext)
    assert context["cookies"][0] == {"name": "sid", "value": "s1", "domain": "127.0.0.1", "path": "/",
                                     "httpOnly": True, "secure": False, "sameSite": "Lax", "session": True}  # fmt: skip
    assert context["cookies"][1]["expires"] == 1900000000.5 and "session" not in context["cookies"][1]
    assert context["localStorage"] == {"127.0.0.1": {"token": "t1"}}
    state_file = tmp_path / "state.json"
    state_file.write_text(__import__("json").dumps(STORAGE_STATE))
    assert as_session_context(state_file) == as_session_context(str(state_file)) == context
    assert as_session_context({"cookies": [], "localStorage": {}}) == {"cookies": [], "localStorage": {}}

    # Back: the origin's scheme and port come from the host's cookies (here a cookie the server sent on port 8123).
    context["cookies"][0].update(sourceScheme="NonSecure", sourcePort=8123)
    back = storage_state_from_context(context)
    assert back["origins"] == STORAGE_STATE["origins"]
    assert back["cookies"][0] == STORAGE_STATE["cookies"][0]
    assert back["cookies"][1]["expires"] == 1900000000.5
    unknown_host = storage_state_from_context({"localStorage": {"b.test": {"k": "v"}}})
    assert unknown_host["origins"] == [{"origin": "https://b.test", "localStorage": [{"name": "k", "value": "v"}]}]

    not_a_state = tmp_path / "list.json"
    not_a_state.write_text("[]")  # JSON, but no object: named, not an AttributeError from deep inside
    with pytest.raises(
        TypeError,
        match=r"a storage state is a JSON object with cookies and origins; the file '.*list\.json' holds none",
    ):
        context_from_storage_state(not_a_state)


def test_a_session_context_shows_no_secret() -> None:
    from pytest_steel import SessionContext

    context = SessionContext(cookies=[{"name": "sid", "value": "sekrit"}], localStorage={"a": {"t": "tok"}})
    assert repr(context) == str(context) == "<SessionContext: 1 cookies, storage for 1 hosts>"
    assert "sekrit" not in f"{context!r} {context}" and context["cookies"][0]["value"] == "sekrit"


# -- the driver's temp folders ----------------------------------------------------------


def test_a_driver_folder_is_removed_only_once_its_process_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"pytest-steel-playwright-{gone.pid}-abc"
    (dead / "playwright-artifacts-x").mkdir(parents=True)
    alive = tmp_path / f"pytest-steel-playwright-{os.getppid()}-abc"
    alive.mkdir()
    not_a_folder = tmp_path / f"pytest-steel-playwright-{gone.pid}-file"
    not_a_folder.write_text("")
    not_ours = tmp_path / "pytest-steel-playwright-abc"  # no pid: some other tool's
    not_ours.mkdir()
    with driver_tmpdir() as started:
        started()
        [mine] = [p for p in tmp_path.iterdir() if p.name.startswith(f"pytest-steel-playwright-{os.getpid()}-")]
    assert not dead.exists()
    assert not mine.exists()
    assert {p.name for p in tmp_path.iterdir()} == {alive.name, not_a_folder.name, not_ours.name}


def test_a_runs_slots_folder_is_named_with_its_pid_and_a_killed_runs_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"pytest-steel-slots-{gone.pid}-abc"
    dead.mkdir()
    (dead / "requests.json").write_text("{}")
    alive = tmp_path / f"pytest-steel-slots-{os.getppid()}-abc"
    alive.mkdir()
    older = tmp_path / "pytest-steel-slots-abc"  # named before folders had a pid: its owner cannot be told
    older.mkdir()
    settings = Settings(base_url=Setting("http://127.0.0.1:9", "--steel-base-url")).with_backend()
    backend = BackendAccess(settings, None, lambda _: None)
    made = Path(backend.worker_input()[WORKER_SLOTS_KEY])
    assert made.parent == tmp_path and made.name.startswith(f"pytest-steel-slots-{os.getpid()}-")
    assert not dead.exists()
    assert {p.name for p in tmp_path.iterdir()} == {made.name, alive.name, older.name}
    backend.close()
    assert not made.exists()


@pytest.mark.parametrize("users", [None, "/etc/ssl/mine.pem"])
def test_the_server_points_openssl_at_no_ca_bundle_only_while_it_imports_aiohttp(
    monkeypatch: pytest.MonkeyPatch, users: str | None
) -> None:
    if users is None:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", users)
    with _no_ca_bundle():
        assert os.environ["SSL_CERT_FILE"] == os.devnull
    assert os.environ.get("SSL_CERT_FILE") == users  # browsers, launched later, see the user's own


# -- names from the wire, written on this machine ------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "it is empty"),
        ("../../evil", "holds a '..' segment"),
        ("..", "holds a '..' segment"),
        ("reports/../../evil", "holds a '..' segment"),
        ("/tmp/x", "is an absolute path"),
        ("//server/share", "is an absolute path"),
        ("a\x00b", "holds a NUL byte"),
        ("a\\..\\..\\evil", "holds a backslash, a path separator on Windows"),
        ("a//b", "holds an empty segment"),
        ("a/", "holds an empty segment"),
        ("./a", "holds a '.' segment"),
        ("x" * 256, "holds a name longer than 255 bytes"),
        ("é" * 128, "holds a name longer than 255 bytes"),  # 128 characters, 256 bytes of UTF-8
        ("/".join("a" * 33), "is more than 32 folders deep"),
    ],
)
def test_a_path_from_the_wire_that_could_leave_its_folder_is_refused(tmp_path: Path, name: str, why: str) -> None:
    for check in (inside, inside_relative):  # a download's guid, a files area's path
        with pytest.raises(UnsafeNameError) as refused:
            check(tmp_path / "folder", name)
        assert isinstance(refused.value, SteelError) and isinstance(refused.value, ValueError)
        assert str(refused.value).startswith(repr(name)[:60])  # the name, as the report shows it
    with pytest.raises(UnsafeNameError, match=re.escape(why) + "$"):
        inside_relative(tmp_path / "folder", name)
    assert list(tmp_path.iterdir()) == []  # checking writes nothing, not even the folder


def test_a_plain_name_and_a_relative_path_are_kept_inside_their_folder(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    assert inside(folder, "3f2b-guid") == folder / "3f2b-guid"
    assert inside(folder, "...") == folder / "..."  # a name of dots is a name
    assert inside(folder, "x" * 255) == folder / ("x" * 255)
    assert inside_relative(folder, "reports/2026/a.csv") == folder / "reports" / "2026" / "a.csv"
    with pytest.raises(UnsafeNameError, match="holds a path separator"):
        inside(folder, "reports/a.csv")  # a download's guid is one name, never a path
    folder.mkdir()
    (folder / "link").symlink_to(tmp_path)  # a folder inside that leads outside
    with pytest.raises(UnsafeNameError, match=r"^'link/x' leads outside "):
        inside_relative(folder, "link/x")


def test_a_log_record_is_written_without_the_key_and_a_bad_one_still_reaches_its_handler() -> None:
    import io
    import logging

    from pytest_steel._client.redaction import RedactingFilter

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(RedactingFilter(lambda: "log-secret-42"))
    logger = logging.getLogger("pytest_steel.tests.redacting")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting to %s", "ws://x/?apiKey=log-secret-42")
        try:
            raise RuntimeError("refused log-secret-42")
        except RuntimeError:
            logger.exception("it failed")
        logger.warning("a %s b %s", 1)  # arguments that do not fit: the handler's own error report, no crash
    finally:
        logger.removeHandler(handler)
    text = written.getvalue()
    assert "connecting to ws://x/?apiKey=***" in text and "RuntimeError: refused ***" in text
    assert "log-secret-42" not in text


def test_an_artifact_kind_is_one_row_of_the_settings_table_and_never_a_create_field() -> None:
    """The table's artifact modes are the marker's artifact fields, the modes a test gets, and no create field."""
    import dataclasses

    from pytest_steel._config.markers import SteelMarks
    from pytest_steel._config.settings import ARTIFACT_FIELDS, Settings
    from pytest_steel._reporting.artifacts import ArtifactModes

    modes = [f.name for f in dataclasses.fields(Settings) if "option" in f.metadata and f.metadata["option"].artifact]
    assert ARTIFACT_FIELDS == tuple(modes) == ("screenshot", "tracing", "recording", "downloads")
    assert [f.name for f in dataclasses.fields(ArtifactModes)] == modes
    marks = SteelMarks({name: "on" for name in modes} | {"blockAds": True}, {})
    assert marks.create_fields() == {"blockAds": True}


def test_the_report_header_rows_come_from_the_settings_table() -> None:
    """Every option the header shows says so in its row; the header shows nothing the table does not."""
    from pytest_steel._config.settings import Settings

    shown = {o.shown.label for o in Settings.options() if o.shown is not None}
    assert shown == {
        "timeout", "scope", "release-all", "api key", "inactivity", "max sessions", "http timeout",
        "pytest-playwright", "prefetch", "requests", "plan wait", "headed", "pool", "chromium", "debug", "slowmo",
        "screenshot", "tracing", "recording", "downloads", "output", "debug urls",
    }  # fmt: skip
