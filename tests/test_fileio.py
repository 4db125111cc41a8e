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


def test_devices_and_pipes_are_written_into_not_replaced(tmp_path):
    """-o /dev/null needs no --force and stays a device; a FIFO gets the bytes, as `cat >`."""
    atomic_write("/dev/null", b"data")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write(fifo, b"through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert not fifo.is_file() and list(tmp_path.iterdir()) == [fifo]


def test_a_symlink_stays_and_its_target_follows_the_rules(tmp_path):
    target = tmp_path / "target.pxc"
    target.write_bytes(b"old")
    link = tmp_path / "link.pxc"
    link.symlink_to(target)
    with pytest.raises(PixcodecError, match="link.pxc already exists"):
        atomic_write(link, b"new")
    atomic_write(link, b"new", force=True)
    assert link.is_symlink() and target.read_bytes() == b"new"
    dangling = tmp_path / "dangling.pxc"
    dangling.symlink_to(tmp_path / "absent.pxc")
    atomic_write(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "absent.pxc").read_bytes() == b"made"


def test_write_failures_name_the_users_path(tmp_path):
    """Not the hidden temp file: the path the user gave, with the system's reason."""
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(PixcodecError, match=r"a.png/x.pxc: cannot write \(Not a directory\)"):
        atomic_write(tmp_path / "a.png" / "x.pxc", b"data")
    with pytest.raises(PixcodecError, match="is a directory"):
        atomic_write(tmp_path, b"data", force=True)
