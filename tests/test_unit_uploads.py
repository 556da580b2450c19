"""``set_input_files`` hands Playwright exactly the sets Playwright takes: under 50 MiB, not up to and including."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import playwright

from pytest_steel._browser.uploads import PLAYWRIGHT_LIMIT, playwright_takes

try:  # what Playwright refuses, in its code: the client's check for buffers, the same rule as its driver's for paths
    from playwright._impl.element_handle import file_payload_exceeds_size_limit
    from playwright._impl.file_utils import file_upload_size_limit
except ImportError:  # an older Playwright (1.41): the client has the constant only, the rule is its driver's alone
    from playwright._impl._set_input_files_helpers import SIZE_LIMIT_IN_BYTES as file_upload_size_limit

    file_payload_exceeds_size_limit = None

# An older driver's own check, run by its own node: a set of local paths for a browser not on its machine.
_DRIVER_CHECK = """
const {prepareFilesForUpload} = require(process.argv[1]);
const frame = {_page: {_browserContext: {_browser: {_isCollocatedWithServer: false}}}};
prepareFilesForUpload(frame, {localPaths: [process.argv[2]]}).then(
  () => console.log(JSON.stringify("taken")), (e) => console.log(JSON.stringify(e.message)));
"""


def _file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    with open(path, "wb") as f:  # sparse: no 50 MiB written to disk
        f.truncate(size)
    return path


def _driver_answer(path: Path) -> str:
    driver = Path(playwright.__file__).parent / "driver"
    script = driver / "package/lib/server/fileUploadUtils.js"
    done = subprocess.run(
        [driver / "node", "-e", _DRIVER_CHECK, script, path], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_the_limit_is_playwrights_and_playwright_refuses_a_set_of_exactly_that_size(tmp_path: Path) -> None:
    # Its driver's check for local paths (filesExceedUploadLimit) is the same: total >= the limit.
    assert PLAYWRIGHT_LIMIT == file_upload_size_limit == 52_428_800
    if file_payload_exceeds_size_limit is None:  # the older driver's check itself, on real (sparse) files
        refused = "Cannot transfer files larger than 50Mb to a browser not co-located with the server"
        assert _driver_answer(_file(tmp_path, "exact", PLAYWRIGHT_LIMIT)) == refused
        assert _driver_answer(_file(tmp_path, "under", PLAYWRIGHT_LIMIT - 1)) == "taken"
        return
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
