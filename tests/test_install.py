"""A non-editable install ships the weights, works from any directory, and installs no generic
top-level names (`models`, `cli`) into site-packages."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_ships_weights(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, cwd=tmp_path)
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert "models" not in top and "cli" not in top and "pixcodec" in top
    golden = ROOT / "tests" / "assets" / "v3" / "logistic-rgb-int8-v2-12-tiles.pxc"
    original = ROOT / "tests" / "assets" / "crop-40x56.png"
    # This venv's editable install of the checkout would answer for any module the copy lacks.
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path"
            " if 'editable' not in getattr(f, '__module__', '')];"
            "import numpy as np, pixcodec; a = np.arange(60, dtype=np.uint8).reshape(4, 5, 3);"
            "assert (pixcodec.decompress(pixcodec.compress(a)) == a).all();"
            "from PIL import Image;"  # the integer engine's file: its package is installed
            f"b = pixcodec.decompress(open({str(golden)!r}, 'rb').read());"
            f"assert (b == np.asarray(Image.open({str(original)!r}))).all();"
            "print(pixcodec.__file__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(target))
