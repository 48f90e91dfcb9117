"""``python -m nerve``: the same as the ``nerve`` command."""

import sys

from nerve.cli import main

if __name__ == "__main__":
    sys.exit(main())
