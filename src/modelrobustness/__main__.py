"""``python -m modelrobustness``: the command line (see ``modelrobustness.cli``)."""

import sys

from .cli import main

sys.exit(main())
