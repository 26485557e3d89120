"""`python -m app.cli …` runs the `mmsearch` command line."""

import sys

from app.cli.main import main

sys.exit(main())
