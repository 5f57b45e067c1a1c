"""Human-readable sizes of byte counts and files."""

import os

__version__ = "0.1.0"

DECIMAL = ["kB", "MB", "GB", "TB", "PB"]
BINARY = ["KiB", "MiB", "GiB", "TiB", "PiB"]


def describe(nbytes: int, binary: bool = False) -> str:
    """`1500000` -> `1.5 MB` (`1.4 MiB` with binary=True); `1` -> `1 Byte`."""
    if nbytes < 0:
        raise ValueError(f"a size cannot be negative: {nbytes}")
    base = 1024 if binary else 1000
    if nbytes < base:
        return f"{nbytes} Byte" + ("" if nbytes == 1 else "s")
    size = float(nbytes)
    for unit in BINARY if binary else DECIMAL:
        size /= base
        if size < base or unit in ("PB", "PiB"):
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def total_size(path: str) -> int:
    """The size of a file, or the total of the files under a directory."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def describe_path(path: str, binary: bool = False) -> str:
    return f"{path}: {describe(total_size(path), binary)}"
