"""`python -m mbhealth <command>`: see mbhealth.cli."""

import sys

from mbhealth.cli import main

if __name__ == "__main__":
    sys.exit(main())
