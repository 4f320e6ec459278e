"""`python -m dnallm` runs the `dnallm` command."""

import sys

from dnallm.cli import main

sys.exit(main())
