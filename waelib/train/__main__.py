"""``python -m waelib.train ...`` (and ``torchrun ... -m waelib.train ...``): see :mod:`waelib.train.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
