"""Compressing an archive on a Dask cluster (pixcodec.cluster, issue 38 item 15): a LocalCluster
of worker processes, a folder tree of small images, one broken."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")

import pixcodec  # noqa: E402
from pixcodec.cluster import compress_archive, plan  # noqa: E402


def _workers_state() -> tuple[int, int | None]:
    """On a worker: (its child processes, torch's threads where torch is loaded)."""
    import sys
    me = str(os.getpid())
    children = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children += stat.read_text().rsplit(") ", 1)[1].split()[1] == me
        except (OSError, IndexError):
            pass
    torch = sys.modules.get("torch")
    return children, None if torch is None else torch.get_num_threads()


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _tree(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    images = {}
    for name in ("a.png", "sub/b.png", "sub/deeper/c.png", "d.png"):
        pixels = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / name)
        images[name] = pixels
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return images


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_an_archive_is_compressed_verified_and_resumed(client, tmp_path):
    images = _tree(tmp_path / "in")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "d.pxc").write_bytes(b"finished by an earlier run")
    report = compress_archive(client, [tmp_path / "in"], out, effort=0)
    done = sorted(Path(c.target).relative_to(out).as_posix() for c in report.compressed)
    assert done == ["a.pxc", "sub/b.pxc", "sub/deeper/c.pxc"]
    assert report.skipped == [str(tmp_path / "in" / "d.png")]
    [(source, message)] = report.failed
    assert source == str(tmp_path / "in" / "sub" / "broken.png")
    assert "\n" not in message and "PNG" in message
    assert (out / "d.pxc").read_bytes() == b"finished by an earlier run"
    assert not (out / "sub" / "broken.pxc").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    for name, pixels in images.items():
        if name != "d.png":
            target = (out / name).with_suffix(".pxc")
            assert np.array_equal(pixcodec.decompress(target.read_bytes()), pixels)
    assert report.summary().startswith("3 of 5 files compressed and verified")
    # Each worker coded with one torch thread and started no process of its own.
    for children, threads in client.run(_workers_state).values():
        assert children == 0 and threads in (None, 1)
    again = compress_archive(client, [tmp_path / "in"], out, effort=0)
    assert not again.compressed and len(again.skipped) == 4 and len(again.failed) == 1


def test_plan_puts_outputs_next_to_their_sources_or_mirrors_them(tmp_path):
    _tree(tmp_path)
    pairs = plan([tmp_path / "sub", tmp_path / "a.png"])
    assert (str(tmp_path / "sub" / "deeper" / "c.png"),
            str(tmp_path / "sub" / "deeper" / "c.pxc")) in pairs
    assert (str(tmp_path / "a.png"), str(tmp_path / "a.pxc")) in pairs
    mirrored = dict(plan([tmp_path / "sub"], tmp_path / "out"))
    assert mirrored[str(tmp_path / "sub" / "deeper" / "c.png")] == \
        str(tmp_path / "out" / "deeper" / "c.pxc")
