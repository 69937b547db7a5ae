"""python -m rayedit.cli (the ``rayedit`` command)."""

import sys

from rayedit.cli import main

sys.exit(main())
