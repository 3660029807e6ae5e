"""``python -m waelib.metrics [--bench] [--threads N]`` (see :mod:`waelib.metrics.cli`)."""
from waelib.metrics.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
