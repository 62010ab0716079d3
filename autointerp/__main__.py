"""`python -m autointerp ...`: the same command line as the `autointerp` console script."""

import sys

from autointerp.cli import main

if __name__ == "__main__":
    sys.exit(main())
