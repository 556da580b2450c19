"""``python -m pytest_steel.local``: the same as the ``steel-local`` command, with a quick exit.

The embedded server runs this way, and every pytest run waits for it to exit. By the time
``main`` returns, every session is released, every browser reaped and every directory
removed: what is left is the interpreter's own teardown of aiohttp and its imports, about
100 ms on 2 cores that no run needs. So the output is flushed and the process ends at once.
"""

import contextlib
import logging
import os
import sys

from ._cli import main

code = main()
logging.shutdown()
for stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(OSError, ValueError):  # a parent gone closed the pipe
        stream.flush()
os._exit(code)
