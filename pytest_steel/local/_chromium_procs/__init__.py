"""The Chromium processes the embedded server runs: each on a DevTools pipe shared among its clients, the pool,
the watchdog that ends them if the server dies, and what the server does over CDP itself (a session's
context, the screencast, the recording).

It imports only ``_browser`` and ``_client`` and its own modules: nothing of the server above it.
"""
