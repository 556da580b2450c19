"""The ``steel`` marker: every field takes the value of the closest marker on the node or its parents.

The one place that reads the marker, for create fields (``timeout`` and any Steel
field) and for artifact modes (``screenshot``, ``tracing``) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest

from .._client.errors import SteelError
from .._client.limits import parse_timeout_ms, timeout_error
from .settings import ARTIFACT_FIELDS, CONNECTION_FIELDS, EXPOSE_MODES

MARKER = "steel"
MARKER_HELP = (
    "steel(timeout=None, context=None, expose_local=None, expose_hosts=(), **create_fields): parameters for the "
    "Steel session of this test; context names a fixture whose session context the session starts from; "
    "expose_local and expose_hosts choose what of this machine its pages reach"
)


@dataclass(frozen=True)
class SteelMarks:
    """The merged marker fields of one node, and which node set each."""

    fields: dict[str, Any]
    owners: dict[str, pytest.Item | pytest.Collector]

    @classmethod
    def of(cls, node: pytest.Item | pytest.Collector) -> SteelMarks:
        fields: dict[str, Any] = {}
        owners: dict[str, pytest.Item | pytest.Collector] = {}
        for found, mark in node.iter_markers_with_node(MARKER):  # closest first
            owner = cast("pytest.Item | pytest.Collector", found)  # every node is one or the other
            if mark.args:
                raise SteelError(
                    f"@pytest.mark.steel on {_name(owner)} takes keyword arguments only, "
                    "e.g. @pytest.mark.steel(timeout='2m', blockAds=True)"
                )
            for key, value in mark.kwargs.items():
                if key not in fields:
                    fields[key], owners[key] = value, owner
        return cls(fields, owners)

    def create_fields(self) -> dict[str, Any]:
        """Create parameters, ``timeout`` in milliseconds; artifact modes are not create fields."""
        created = {k: v for k, v in self.fields.items() if k not in ARTIFACT_FIELDS and k not in CONNECTION_FIELDS}
        if "timeout" in created:
            created["timeout"] = timeout_ms(created["timeout"], "@pytest.mark.steel(timeout=...)")
        return created

    def mode(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """An artifact mode (``screenshot``, ``tracing``), checked against its choices."""
        if name not in self.fields:
            return default
        value = self.fields[name]
        if value not in choices:
            raise SteelError(
                f"@pytest.mark.steel({name}={value!r}) on {_name(self.owners[name])}: "
                f"use {', '.join(map(repr, choices))}"
            )
        return value

    def expose_local(self) -> str | None:
        """The marker's ``expose_local`` (True, False, or a mode), as a mode; None when no marker sets it."""
        if "expose_local" not in self.fields:
            return None
        value = self.fields["expose_local"]
        mode = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
        if mode not in EXPOSE_MODES:
            raise SteelError(
                f"@pytest.mark.steel(expose_local={value!r}) on {_name(self.owners['expose_local'])}: "
                "use True, False, 'auto', 'on' or 'off'"
            )
        return str(mode)

    def expose_hosts(self) -> list[str]:
        value = self.fields.get("expose_hosts", ())
        return [value] if isinstance(value, str) else list(value)

    def reject_below(self, holder: pytest.Item | pytest.Collector) -> None:
        """A shared session is made once: create fields marked below ``holder`` (its module, or the run) would
        change nothing."""
        for key, owner in self.owners.items():
            if key in ARTIFACT_FIELDS or owner is holder or isinstance(owner, (pytest.Package, pytest.Session)):
                continue
            if isinstance(holder, pytest.Session):
                pytest.fail(
                    f"@pytest.mark.steel on {owner.nodeid} cannot change the one session shared by the whole run "
                    "(--steel-session-scope session); set create fields in steel_session_params, or use "
                    "--steel-session-scope function or module",
                    pytrace=False,
                )
            pytest.fail(
                f"@pytest.mark.steel on {owner.nodeid} cannot change a per-module session shared with other "
                "tests; mark the module instead (pytestmark = pytest.mark.steel(...)), or use a per-test session",
                pytrace=False,
            )


def timeout_ms(value: object, where: str) -> int:
    """A timeout from a marker or a fixture, in any form ``--steel-timeout`` takes; a SteelError names ``where``."""
    try:
        return parse_timeout_ms(value)
    except ValueError:
        raise SteelError(timeout_error(where, value)) from None


def _name(node: pytest.Item | pytest.Collector) -> str:
    return node.nodeid or node.name
