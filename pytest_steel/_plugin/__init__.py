"""The pytest plugin's working parts: the fixtures, the run they draw sessions from, prefetch, ``--steel-debug``.

``plugin.py`` wires these to pytest's hooks. Imports ``_reporting``, ``_sessions``, ``_config``,
``_browser`` and ``_client``; of the package's layers, only ``_integrations`` imports it.
"""
