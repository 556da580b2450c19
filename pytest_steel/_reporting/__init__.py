"""What the run says: the summary, each test's report lines and properties, its artifacts and recordings.

Imports ``_sessions``, ``_config``, ``_browser`` and ``_client``; it is handed the run's state as a
``test_reports.RunView`` and never imports the run (``_fixtures``).
"""
