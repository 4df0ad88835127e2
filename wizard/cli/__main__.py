"""`python -m wizard.cli`: the engine's commands alone (no wizard, no demo)."""

import sys

from wizard.cli import main

if __name__ == "__main__":
    sys.exit(main())
