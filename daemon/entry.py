"""The `renkei` command: holds SIGHUP for `renkei serve` before anything heavy is
imported (daemon/earlyhup.py), then hands over to daemon/cli/."""

from __future__ import annotations

import gc
import sys

from daemon import earlyhup


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        earlyhup.hold()
    try:
        from daemon.cli import main as command
    except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing began
        return 130
    code = command()
    # What is left goes with the process: walked by the cycle collector once more on
    # the way out, it took 40 ms of every `renkei import` after its work was done.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
