"""The pytest plugin's working parts: the fixtures, the run they draw sessions from, the one way they connect
Playwright to a session (``connect``), prefetch, ``--steel-debug``.

``plugin.py`` wires these to pytest's hooks. Imports every layer below it; only ``_integrations`` imports it.
"""
