import os

import pytest

from pixcodec.errors import PixcodecError
from pixcodec.fileio import atomic_write




def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.pxc"

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"data")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_refuses_existing_and_forces(tmp_path):
    target = tmp_path / "out"
    target.write_bytes(b"old")
    target.chmod(0o604)
    with pytest.raises(PixcodecError, match="already exists"):
        atomic_write(target, b"new")
    atomic_write(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o604  # as open() would have left it


def test_atomic_write_gives_the_permissions_of_a_plain_new_file(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "out", b"data")
        (tmp_path / "plain").write_bytes(b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "out").stat().st_mode == (tmp_path / "plain").stat().st_mode
