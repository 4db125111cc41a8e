"""The results of a benchmark: a `Row` per codec and image, and the totals over a data set."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

TOTAL = "TOTAL"


@dataclass(frozen=True)
class Row:
    """One codec on one image, or (image TOTAL) on every image of a data set, as sums."""
    dataset: str
    image: str
    codec: str
    images: int = 1                 # how many images the sums cover (0: none coded)
    width: int | None = None        # None for totals
    height: int | None = None
    dims: int = 0                   # H x W x C
    status: str = "ok"              # "ok", "missing" (codec not installed), "error" (see note)
    note: str = ""
    bytes: int = 0                  # the whole file, headers included
    encode_s: float = 0.0
    decode_s: float = 0.0
    exact: bool | None = None       # decoded pixels equal the original; None: not run
    # pixcodec only:
    nll_bits: float | None = None   # the model's NLL of the pixels as coded: the ideal payload
    header_bytes: int | None = None
    whole_nll_bits: float | None = None  # float net, whole image in one piece (tile cost)
    tiled_nll_bits: float | None = None  # float net, each tile on its own, as the codec codes

    @property
    def bits_per_dim(self) -> float | None:
        return 8 * self.bytes / self.dims if self.images and self.dims else None

    @property
    def nll_bits_per_dim(self) -> float | None:
        return self.nll_bits / self.dims if self.images and self.nll_bits is not None else None

    @property
    def overhead_pct(self) -> float | None:
        """How far the real file is above the ideal: the model's NLL plus the header."""
        if not self.images or not self.nll_bits:
            return None
        return 100 * (8 * self.bytes / (self.nll_bits + 8 * self.header_bytes) - 1)

    @property
    def payload_overhead_pct(self) -> float | None:
        """The coder's own overhead: payload bits over NLL bits (headers left out)."""
        if not self.images or not self.nll_bits:
            return None
        return 100 * (8 * (self.bytes - self.header_bytes) / self.nll_bits - 1)

    @property
    def tile_cost_pct(self) -> float | None:
        """Extra NLL of coding tiles independently rather than the whole image in one piece."""
        if not self.images or not self.whole_nll_bits:
            return None
        return 100 * (self.tiled_nll_bits / self.whole_nll_bits - 1)

    @property
    def encode_s_per_image(self) -> float | None:
        return self.encode_s / self.images if self.images else None

    @property
    def decode_s_per_image(self) -> float | None:
        return self.decode_s / self.images if self.images else None


DERIVED = ("bits_per_dim", "nll_bits_per_dim", "overhead_pct", "payload_overhead_pct",
           "tile_cost_pct", "encode_s_per_image", "decode_s_per_image")


def row_dict(row: Row) -> dict:
    """A row's fields and derived figures, for JSON and CSV."""
    return {**asdict(row), **{name: getattr(row, name) for name in DERIVED}}


@dataclass
class BenchResult:
    rows: list[Row]      # per image, in data set, image, codec order
    totals: list[Row]    # per data set and codec, every codec listed (missing ones too)
    settings: dict = field(default_factory=dict)

    def problems(self) -> list[Row]:
        """Rows whose round trip failed or was not exact (missing codecs are not problems)."""
        return [r for r in self.rows if r.status == "error" or r.exact is False]


def total_row(dataset: str, codec: str, rows: Sequence[Row]) -> Row:
    """The sums over a codec's rows on one data set; images that failed are counted out."""
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status == "error"]
    missing = [r for r in rows if r.status == "missing"]

    def total(name):
        values = [getattr(r, name) for r in ok]
        return None if not values or None in values else sum(values)

    if missing and not ok and not failed:
        status, note = "missing", missing[0].note
    elif failed:
        status, note = "error", f"{len(failed)} of {len(rows)} images failed: {failed[0].note}"
    else:
        status, note = "ok", ""
    return Row(dataset, TOTAL, codec, images=len(ok), dims=sum(r.dims for r in ok),
               status=status, note=note, bytes=sum(r.bytes for r in ok),
               encode_s=sum(r.encode_s for r in ok), decode_s=sum(r.decode_s for r in ok),
               exact=all(r.exact for r in ok) if ok else None,
               nll_bits=total("nll_bits"), header_bytes=total("header_bytes"),
               whole_nll_bits=total("whole_nll_bits"), tiled_nll_bits=total("tiled_nll_bits"))
