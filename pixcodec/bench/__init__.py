"""Benchmarks: how close real .pxc files come to the model's NLL, and how pixcodec stands against
the classic lossless codecs, with encode and decode times (the `pixcodec bench` command).

Every figure is a `Row`: one codec on one image, or one codec on a whole data set (image
`TOTAL`), whose sizes, NLLs and seconds are sums over its images. So a total's bits/dim is its
total bits over its total dims, not a mean of per-image values.

    bits/dim = 8 x file bytes / (H x W x C)      C = 3 for RGB, 1 for grayscale and 1-bit

Sizes are whole files, headers included. How the classic codecs are fed (each round trip is
checked against the original pixels):

* 1-bit images: PNG writes a 1-bit PNG; the others get samples 0/1, JPEG 2000 at 1-bit precision.
* WebP and QOI have no grayscale mode: grayscale and 1-bit images reach them as RGB with three
  equal channels (the dims still count one channel).
* Every codec runs on one thread, as pixcodec's coding does.

The library never imports click; the CLI prints, saves and plots what `run_bench` returns.

Where each part lives (each module imports only those listed above it):

    rows.py      Row, BenchResult and the totals: the results
    codecs.py    the classic codecs, fed as above (CLASSIC_CODECS)
    measure.py   one image: each pixcodec model and classic codec, timed and checked
    runner.py    a whole benchmark: sampling the data sets, worker processes (run_bench)
    report.py    the table, JSON, CSV and the plot

Every public name is importable from this package. A test that patches a name must patch the
module that looks it up (e.g. `bench.codecs._imagecodecs`), not this package.
"""
from ..figures import INSTALL_HINT, require_matplotlib
from .codecs import CLASSIC_CODECS, Codec, missing_reason, pillow_png
from .measure import (float_nll_bits, measure_classic, measure_image, measure_pixcodec,
                      measure_pixcodec_together, pixcodec_label, tile_nll_bits)
from .report import SERIALISERS, format_table, plot_png, to_csv, to_json
from .rows import DERIVED, TOTAL, BenchResult, Row, row_dict, total_row
from .runner import machine, run_bench, sample_indices, totals

__all__ = [
    "BenchResult", "CLASSIC_CODECS", "Codec", "DERIVED", "INSTALL_HINT", "Row", "SERIALISERS",
    "TOTAL", "float_nll_bits", "format_table", "machine", "measure_classic", "measure_image",
    "measure_pixcodec", "measure_pixcodec_together", "missing_reason", "pillow_png", "pixcodec_label", "plot_png",
    "require_matplotlib", "row_dict", "run_bench", "sample_indices", "tile_nll_bits",
    "to_csv", "to_json", "total_row", "totals",
]
