"""`python -m importers.chunker`: reads one file and writes its chunks to stdout.

Used by the daemon for large files, so that parsing runs in a process of its own while
the daemon writes rows. Reads a pickled (path, spec, sniffed) from stdin; writes one
pickled Chunk after another, then None, or the ImportProblem that stopped it. Imports
only importers/ and the standard library, so it starts in a few milliseconds.
"""

from __future__ import annotations

import pickle
import sys

from importers.errors import ImportProblem
from importers.reader import CsvFile


def main() -> int:
    path, spec, sniffed = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    csv_file = CsvFile(path, spec)
    csv_file.sniffed = sniffed
    try:
        for chunk in csv_file.chunks():
            pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, out)
    except ImportProblem as problem:
        pickle.dump(problem, out)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
