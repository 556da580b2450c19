"""The fixtures and what they draw on: the run they draw sessions from, the one way they connect
Playwright to a session (``connect``), prefetch, ``--steel-debug``. Named for its fixtures;
``plugin.py``, beside it, is the entry point.

``plugin.py`` wires these to pytest's hooks. Imports ``_reporting``, ``_sessions``, ``_config``,
``_browser`` and ``_client``; of the package's layers, only ``_integrations`` imports it.
"""
