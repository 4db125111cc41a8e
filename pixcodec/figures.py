"""Figures as PNG bytes (`pixcodec bench --plot`, `pixcodec bits`), drawn with matplotlib: an
optional library of the [bench] extra, loaded only when a figure is asked for."""
from __future__ import annotations

import io

from .errors import PixcodecError

# How to install the optional libraries: matplotlib, and imagecodecs for bench's codecs.
INSTALL_HINT = "pip install 'pixcodec[bench]'"


def require_matplotlib(what: str = "--plot") -> None:
    """Refuse `what` at once, before any work, when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PixcodecError(f"{what} needs matplotlib ({INSTALL_HINT})") from None


def pyplot(what: str = "--plot"):
    """matplotlib.pyplot, drawing to files only (no display needed)."""
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
