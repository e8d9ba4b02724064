"""The `renkei` command: holds SIGHUP for `renkei serve` before anything heavy is
imported (daemon/earlyhup.py), then hands over to daemon/cli/."""

from __future__ import annotations

import sys

from daemon import earlyhup


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        earlyhup.hold()
    try:
        from daemon.cli import main as command
    except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing began
        return 130
    return command()


if __name__ == "__main__":
    sys.exit(main())
