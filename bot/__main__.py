"""``python -m bot`` is the same as the ``nudgebot`` command."""

import sys

from bot.cli import main

if __name__ == "__main__":  # worker processes an import starts import this module too
    sys.exit(main())
