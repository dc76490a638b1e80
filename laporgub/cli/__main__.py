"""``python -m laporgub.cli`` (as before the commands became a package; ``python -m laporgub`` is the same)."""

import sys

from laporgub.cli import main

sys.exit(main())
