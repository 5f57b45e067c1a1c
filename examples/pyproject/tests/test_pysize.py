import pytest

import pysize
from pysize.cli import main


@pytest.mark.parametrize(
    "nbytes, binary, expected",
    [
        (0, False, "0 Bytes"),
        (1, False, "1 Byte"),
        (999, False, "999 Bytes"),
        (1500000, False, "1.5 MB"),
        (1500000, True, "1.4 MiB"),
        (3 * 1024**3, True, "3.0 GiB"),
        (10**18, False, "1000.0 PB"),
    ],
)
def test_describe(nbytes, binary, expected):
    assert pysize.describe(nbytes, binary) == expected


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="negative"):
        pysize.describe(-1)


def test_directory_total(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 500)
    assert pysize.describe_path(str(tmp_path)) == f"{tmp_path}: 1.5 kB"


def test_cli(capsys):
    assert main(["2048", "--binary"]) == 0
    assert capsys.readouterr().out == "2.0 KiB\n"
    assert main(["no-such-file"]) == 2


def test_cli_usage_comes_from_docopt():
    with pytest.raises(SystemExit) as e:
        main([])
    assert str(e.value).startswith("Usage:")
