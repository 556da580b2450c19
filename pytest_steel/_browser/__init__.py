"""The browser side: finding Chromium and ffmpeg, and Playwright connected over CDP to a session.

Imports only ``_client``. ``chromium`` and ``ffmpeg`` are stdlib-only, for the embedded server too;
``connection`` loads Playwright when a test first connects.
"""
