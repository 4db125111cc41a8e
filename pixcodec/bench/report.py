"""A benchmark's output: the Markdown table, JSON, CSV and the plot."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import fields

from ..figures import png_bytes, pyplot
from .codecs import CLASSIC_CODECS
from .rows import DERIVED, BenchResult, Row, row_dict


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "" if value is None else f"{value:{spec}}{suffix}"


def _seconds(value: float | None) -> str:
    # Three significant digits: classic codecs take milliseconds, pixcodec up to minutes.
    return _fmt(value, ".3g")


def _outcome(row: Row) -> str:
    if row.status != "ok":
        return row.status
    return {True: "yes", False: "NO", None: ""}[row.exact]


def format_table(result: BenchResult, per_image: bool = False) -> str:
    """Markdown tables (readable in a terminal): totals always, per image on request."""
    lines = []
    if per_image:
        lines += ["| data set | image | size | codec | bits/dim | model NLL | overhead "
                  "| encode s | decode s | exact |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result.rows:
            lines.append(
                f"| {r.dataset} | {r.image} | {r.width}x{r.height} | {r.codec} "
                f"| {_fmt(r.bits_per_dim, '.3f')} | {_fmt(r.nll_bits_per_dim, '.3f')} "
                f"| {_fmt(r.overhead_pct, '.3f', '%')} | {_seconds(r.encode_s_per_image)} "
                f"| {_seconds(r.decode_s_per_image)} | {_outcome(r)} |")
        lines.append("")
    tile_cost = result.settings.get("tile_cost")
    lines += ["| data set | codec | images | bits/dim | model NLL | overhead | payload overhead "
              + ("| tile cost " if tile_cost else "") + "| encode s/image | decode s/image "
              "| exact |",
              "|---|---|---|---|---|---|---|" + ("---|" if tile_cost else "") + "---|---|---|"]
    for r in result.totals:
        lines.append(
            f"| {r.dataset} | {r.codec} | {r.images} | {_fmt(r.bits_per_dim, '.3f')} "
            f"| {_fmt(r.nll_bits_per_dim, '.3f')} | {_fmt(r.overhead_pct, '.3f', '%')} "
            f"| {_fmt(r.payload_overhead_pct, '.3f', '%')} "
            + (f"| {_fmt(r.tile_cost_pct, '.2f', '%')} " if tile_cost else "")
            + f"| {_seconds(r.encode_s_per_image)} | {_seconds(r.decode_s_per_image)} "
            f"| {_outcome(r)} |")
    lines.append("")
    lines.append("bits/dim: 8 x file bytes / (H x W x C), headers included; totals are total "
                 "bits over total dims. overhead: file / (model NLL + header) - 1; payload "
                 "overhead: payload / model NLL - 1.")
    jobs = result.settings.get("jobs", 1)
    cores = result.settings.get("machine", {}).get("cores")
    repeat = result.settings.get("repeat", 1)
    best = f"; each the fastest of {repeat} runs" if repeat > 1 else ""
    lines.append((f"timings: {jobs} worker processes sharing {cores} cores, so each time is "
                  "longer than on an idle machine" if jobs > 1 else
                  f"timings: one image at a time, one thread per codec ({cores} cores)") + best)
    for r in result.totals:
        if r.status != "ok":
            lines.append(f"{r.status}: {r.dataset} / {r.codec}: {r.note}")
    return "\n".join(lines)


def to_json(result: BenchResult) -> bytes:
    return json.dumps({"settings": result.settings,
                       "totals": [row_dict(r) for r in result.totals],
                       "images": [row_dict(r) for r in result.rows]}, indent=1).encode()


def to_csv(result: BenchResult) -> bytes:
    """Per-image rows, then the totals (image TOTAL), one header."""
    buf = io.StringIO()
    names = [f.name for f in fields(Row)] + list(DERIVED)
    writer = csv.DictWriter(buf, names, lineterminator="\n")
    writer.writeheader()
    for row in [*result.rows, *result.totals]:
        writer.writerow(row_dict(row))
    return buf.getvalue().encode()


# The --out formats, by file name suffix.
SERIALISERS = {".json": to_json, ".csv": to_csv}


def plot_png(result: BenchResult) -> bytes:
    """Bits/dim against encode and decode seconds per image (log scale), one point per codec and
    setting, one row of panels per data set; PNG bytes."""
    plt = pyplot()
    datasets = list(dict.fromkeys(r.dataset for r in result.totals))
    codecs = list(dict.fromkeys(r.codec for r in result.totals))
    ours = [codec for codec in codecs if codec not in CLASSIC_CODECS]
    # pixcodec's models: large stars in their own colours; the classic codecs: tab10.
    style = {codec: (("black", "crimson", "darkorange", "purple")[k % 4], "*", 160)
             for k, codec in enumerate(ours)}
    markers = "os^Dv<>phX"
    style.update({codec: (plt.get_cmap("tab10")(k % 10), markers[k % len(markers)], 60)
                  for k, codec in enumerate(CLASSIC_CODECS)})
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)),
                             squeeze=False, sharey="row")
    for (ax_encode, ax_decode), dataset in zip(axes, datasets):
        for r in result.totals:
            if r.dataset != dataset or r.bits_per_dim is None:
                continue
            colour, marker, size = style[r.codec]
            for ax, seconds in ((ax_encode, r.encode_s_per_image),
                                (ax_decode, r.decode_s_per_image)):
                ax.scatter(max(seconds, 1e-6), r.bits_per_dim, color=colour, marker=marker,
                           s=size, label=r.codec)
        images = max(r.images for r in result.totals if r.dataset == dataset)
        for ax, what in ((ax_encode, "encode"), (ax_decode, "decode")):
            ax.set_xscale("log")
            ax.set_xlabel(f"{what} seconds per image (log scale)")
            ax.set_title(f"{dataset} ({images} images): {what}")
            ax.grid(True, which="both", alpha=0.3)
        ax_encode.set_ylabel("bits/dim (file size)")
    handles, labels = [], []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)
