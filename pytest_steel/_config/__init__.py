"""What the user configured, and where the plugin keeps its state: options, the ``steel`` marker, stash keys.

Loaded at pytest's start-up, so kept light. Imports ``_client`` and ``_browser`` only.
"""
