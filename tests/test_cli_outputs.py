"""Where the command line writes and what it prints (issue 38): -q, the -o rules, and what
compress writes decompress reads by default."""
import pytest

from test_cli import make_png, one_line_error, run


def test_quiet_prints_nothing_on_success(tmp_path):
    sources = [make_png(tmp_path / f"{name}.png", (3, 4), seed) for seed, name in enumerate("abc")]
    result = run("compress", *sources, "-q")
    assert result.exit_code == 0 and result.output == "", result.output
    result = run("decompress", *[s.with_suffix(".pxc") for s in sources], "-o",
                 tmp_path / "back", "-q")
    assert result.exit_code == 0 and result.output == "", result.output
