"""`python -m app.cli`: the same command line as the installed script."""

import sys

from app.cli import main

sys.exit(main())
