"""`python -m daemon.cli`: the `renkei` command run from the source tree, as the tests
run it; hands over to daemon/cli/__init__.py's main()."""

from __future__ import annotations

import sys

from daemon.cli import main

if __name__ == "__main__":
    sys.exit(main())
