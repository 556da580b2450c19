"""What the run says: the summary, each test's report lines and properties, its artifacts and recordings.

Imports ``_config`` and ``_client``; it is handed the run's state, never imports the run.
"""
