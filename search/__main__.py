"""`python -m zoo.search ...` = `darts-zoo search ...` (also the torchrun entry: `torchrun -m zoo.search`)."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["search", *sys.argv[1:]]))
