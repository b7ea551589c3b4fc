"""``python -m hamopt``: the command line (:mod:`hamopt.cli`)."""

from hamopt.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
