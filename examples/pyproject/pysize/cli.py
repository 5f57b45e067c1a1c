"""pysize: prints sizes in human-readable form.

Usage:
  pysize [--binary] <item>...
  pysize --version

Each <item> is a byte count, a file or a directory (the total of its files).

Options:
  --binary   Powers of 1024 (KiB, MiB) instead of 1000 (kB, MB).
  --version  Print the version.
"""

import os
import sys

from docopt import docopt

from . import __version__, describe, describe_path


def main(argv=None) -> int:
    args = docopt(__doc__, argv=argv, version=f"pysize {__version__}")
    for item in args["<item>"]:
        if item.isdigit():
            print(describe(int(item), args["--binary"]))
        elif os.path.exists(item):
            print(describe_path(item, args["--binary"]))
        else:
            print(f"pysize: {item}: neither a byte count nor a path", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
