"""A session's create parameters: ``steel_session_params``, then the closest ``steel`` marker's fields.

Read when a session is made, for a test's own session, its module's, the run's and a
further one from ``steel_new_session``: all start from the same parameters.
"""

from __future__ import annotations

from typing import Any

import pytest

from .._client.errors import SteelError
from .._config.markers import SteelMarks, timeout_ms


def create_params(request: pytest.FixtureRequest, node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """``steel_session_params``, then the closest ``steel`` marker's fields, ``timeout`` in milliseconds.

    The marker's ``context="NAME"`` names a fixture whose value (a session context,
    or a Playwright storage state) the session starts from.
    """
    params = {**request.getfixturevalue("steel_session_params"), **SteelMarks.of(node).create_fields()}
    if isinstance(params.get("timeout"), str):  # an overridden steel_session_params may say "2m" too
        params["timeout"] = timeout_ms(params["timeout"], "steel_session_params['timeout']")
    if "context" in params:
        name = params.pop("context")
        if not isinstance(name, str):
            raise SteelError(
                "@pytest.mark.steel(context=...) takes the name of a fixture that returns a session context, "
                f"e.g. context='admin'; got {type(name).__name__}"
            )
        params["session_context"] = request.getfixturevalue(name)
    return params
