"""``python -m pytest_steel.local``: the same as the ``steel-local`` command."""

import sys

from ._cli import main

sys.exit(main())
