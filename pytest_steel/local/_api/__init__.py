"""The embedded server's HTTP face: Steel's REST routes for sessions and their files, request validation,
the CDP relay and its WebSocket, the viewer's pages (files beside these modules) and its live view.

It imports the server core (``local``'s modules and ``_chromium_procs``) and ``_client``'s wire names; the core imports
nothing from here (tests/test_layout.py checks).
"""
