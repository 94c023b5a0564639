"""``python -m icu_cohort ...``: the command line, through the running interpreter."""

import sys

from icu_cohort.cli import main

sys.exit(main())
