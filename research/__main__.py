"""python -m research COMMAND (see --help)."""

import sys

from research.cli import main

sys.exit(main())
