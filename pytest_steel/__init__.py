"""pytest-steel: managed, isolated browser sessions for pytest, in the style of Steel."""

from ._wire import SessionStatus

__all__ = ["SessionStatus", "__version__"]

__version__ = "0.1.0.dev0"
