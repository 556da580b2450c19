"""The browsers the embedded server runs: Chromium processes on a DevTools pipe, the pool, the watchdog,
and what the server does over CDP itself (session context, screencast, recording).
"""
