"""``python -m laporgub``."""

import sys

from laporgub.cli import main

sys.exit(main())
