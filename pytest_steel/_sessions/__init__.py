"""Reaching the run's backend and tracking its sessions: the client, the embedded server and its xdist
broker, the backend's health, the session slots, each session's lifecycle, the end-of-run sweep.

Imports ``_config``, ``_browser``, ``_client`` and ``local``; ``_browser`` for the relay, ``local`` to start
the embedded server.
"""
