"""``python3 -m dockerd_runtime`` entry point."""

import sys

from .cli import main

sys.exit(main())
