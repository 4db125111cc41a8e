"""Figures as PNG bytes (`pixcodec bench --plot`, `pixcodec bits`), drawn with matplotlib: an
optional library (the [plots] extra, also in [bench]), loaded only when a figure is asked
for."""
from __future__ import annotations

import io

from .errors import PixcodecError

# How to install the optional libraries: bench's (imagecodecs for its codecs, matplotlib for
# --plot), and matplotlib alone for the figures of other commands (bits' heat map), which
# should not need imagecodecs' large wheel.
INSTALL_HINT = "pip install 'pixcodec[bench]'"
PLOTS_INSTALL_HINT = "pip install 'pixcodec[plots]'"


def require_matplotlib(what: str = "--plot", hint: str = INSTALL_HINT) -> None:
    """Refuse `what` at once, before any work, when matplotlib is not installed, saying how to
    install it (`hint`)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PixcodecError(f"{what} needs matplotlib ({hint})") from None


def pyplot(what: str = "--plot"):
    """matplotlib.pyplot, drawing to files only (no display needed); callers have checked
    require_matplotlib with their own hint before any work."""
    require_matplotlib(what)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def png_bytes(fig, dpi: int) -> bytes:
    """The figure as PNG bytes, cropped to what it holds; the figure is closed."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
