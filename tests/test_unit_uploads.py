"""``set_input_files`` hands Playwright exactly the sets Playwright takes: under 50 MiB, not up to and including."""

from __future__ import annotations

import os
from pathlib import Path

from playwright._impl.element_handle import file_payload_exceeds_size_limit  # what Playwright refuses, in its code
from playwright._impl.file_utils import file_upload_size_limit

from pytest_steel._browser.uploads import PLAYWRIGHT_LIMIT, playwright_takes


def _file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    with open(path, "wb") as f:  # sparse: no 50 MiB written to disk
        f.truncate(size)
    return path


def test_the_limit_is_playwrights_and_playwright_refuses_a_set_of_exactly_that_size() -> None:
    # Its driver's check for local paths (filesExceedUploadLimit) is the same: total >= the limit.
    assert PLAYWRIGHT_LIMIT == file_upload_size_limit == 52_428_800
    exact, under = b"\0" * PLAYWRIGHT_LIMIT, b"\0" * (PLAYWRIGHT_LIMIT - 1)
    assert file_payload_exceeds_size_limit([{"name": "a", "mimeType": "x", "buffer": exact}])
    assert not file_payload_exceeds_size_limit([{"name": "a", "mimeType": "x", "buffer": under}])


def test_a_set_of_exactly_50_mib_goes_through_the_files_api_and_one_byte_less_to_playwright(tmp_path: Path) -> None:
    assert playwright_takes([_file(tmp_path, "under", PLAYWRIGHT_LIMIT - 1)])
    assert not playwright_takes([_file(tmp_path, "exact", PLAYWRIGHT_LIMIT)])
    halves = [_file(tmp_path, "a", PLAYWRIGHT_LIMIT // 2), _file(tmp_path, "b", PLAYWRIGHT_LIMIT // 2)]
    assert not playwright_takes(halves)  # the set counts, not each file
    assert playwright_takes([])
    assert os.path.getsize(tmp_path / "exact") == 52_428_800
