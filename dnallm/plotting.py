"""matplotlib figures: attention heatmaps over base-pair positions, with a per-bp track above; attribution logos
with the ISM deltas beneath (:func:`plot_attribution`).

Titles number layers, heads and windows from 0, as ``attentions()`` and the CLI's ``--layer``, ``--head`` and
``--window`` do; they name the window actually drawn (its number and bp span, or the window cut around a region).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from dnallm.attention import AttentionMap, bin_size_for

#: regions at most this long get their bases written along the axes
BASES_SHOWN_UP_TO = 60


def plot_attention(
    amap: AttentionMap,
    head: int | Sequence[int] | str = "mean",
    *,
    layer: int | None = None,
    region: tuple[int, int] | None = None,
    track: bool = True,
    max_bins: int = 512,
    highlight: Sequence[tuple[int, int]] = (),
    cmap: str = "viridis",
    panel_size: float = 4.2,
    title: str | None = None,
):
    """Heatmap of one layer's attention with both axes in bp of the record.

    Args:
        amap: from :meth:`dnallm.DNAInference.attentions`.
        head: ``"mean"`` (heads averaged), a head number, or a list of heads: one panel per head, in a grid.
        layer: which of the map's layers (default its first).
        region: ``(start, end)`` record bp to show (default the whole window).
        track: draw the per-bp attention received above each heatmap.
        max_bins: longer regions are binned to at most this many bins per axis; the bin size goes in the title.
        highlight: record bp spans ``(start, end)`` to shade (motif occurrences, say) on the track and the heatmap.
        cmap, panel_size, title: looks.

    Returns:
        matplotlib Figure; save with ``fig.savefig(path)`` (PNG, PDF, SVG).
    """
    import matplotlib.pyplot as plt

    layer = amap.layers[0] if layer is None else layer
    lo, hi = amap._region(region)
    heads: list[Any] = list(head) if isinstance(head, (list, tuple)) else [head]
    ncols = min(len(heads), 3)
    nrows = -(-len(heads) // ncols)
    height = panel_size * (1.3 if track else 1.0)
    fig = plt.figure(figsize=(panel_size * 1.25 * ncols, height * nrows + 0.4), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(nrows, ncols, squeeze=False).ravel())
    bin_size = bin_size_for(hi - lo, max_bins)
    for subfig, h in zip(subfigs, heads):
        matrix = amap.matrix(layer, h, region=(lo, hi), max_bins=max_bins)
        label = "mean of heads" if h == "mean" else f"head {h}"
        _panel(subfig, amap, matrix, lo, hi, bin_size, layer, h, track, cmap, label if len(heads) > 1 else None,
               highlight)
    for subfig in subfigs[len(heads) :]:
        subfig.set_visible(False)
    _size_letters(fig)
    heads_text = "mean of heads" if heads == ["mean"] else (f"head {heads[0]}" if len(heads) == 1 else "heads")
    layer_text = f"layer {layer} of 0-{amap.n_layers - 1}" if amap.n_layers else f"layer {layer}"
    if amap.n_windows > 1 or amap.window < 0:
        shown = "" if (lo, hi) == (amap.start, amap.end) else f"bp {lo:,}-{hi:,} of "
        where = shown + amap.window_text()
    else:
        where = f"bp {lo:,}-{hi:,}"
    binned = f", bins of {bin_size} bp" if bin_size > 1 else ""
    sparse = f", {amap.attention_type.replace('_', ' ')} attention" if amap.attention_type else ""
    text = title or f"{amap.record_id}: {layer_text}, {heads_text} ({where}{binned}{sparse}; numbered from 0)"
    fig.suptitle(textwrap.fill(text, width=int(fig.get_figwidth() * 12)), fontsize=11)
    return fig


def _size_letters(fig) -> None:
    """Base letters along zoomed axes sized to the room each base has in the laid-out figure, and the bp
    numbers set beyond them (their ticks point into the heatmap, so no tick line crosses a letter)."""
    axes = [ax for ax in fig.get_axes() if getattr(ax, "_dnallm_bases", None)]
    if not axes:
        return
    fig.draw_without_rendering()
    width, height = fig.get_size_inches() * 72
    for ax in axes:
        box = ax.get_position()
        x = _letter_size(box.width * width / ax._dnallm_bases, 0.6)
        y = _letter_size(box.height * height / ax._dnallm_bases, 1.2)
        for label in ax.xaxis.get_minorticklabels():
            label.set_fontsize(x)
        for label in ax.yaxis.get_minorticklabels():
            label.set_fontsize(y)
        ax.tick_params(axis="x", which="major", pad=x * 1.2 + 3)
        ax.tick_params(axis="y", which="major", pad=y * 0.6 + 4)


def _letter_size(room_pt: float, glyph: float) -> float:
    """Font size (pt) of base letters with ``room_pt`` points per base along an axis; ``glyph``: the letter's
    extent along that axis per point of font size (monospace width 0.6; a line's height about 1.2). A gap of
    a tenth of the room is left between letters; 2.5 to 7 pt."""
    return float(np.clip(room_pt * 0.9 / glyph, 2.5, 7.0))


def _panel(subfig, amap, matrix, lo, hi, bin_size, layer, head, track, cmap, label, highlight) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if track:
        ax_track, ax = subfig.subplots(2, 1, sharex=True, height_ratios=[1, 4])
    else:
        ax = subfig.subplots(1, 1)
        ax_track = None
    image = ax.imshow(
        matrix, extent=(lo, lo + matrix.shape[1] * bin_size, lo + matrix.shape[0] * bin_size, lo),
        cmap=cmap, interpolation="nearest", aspect="auto",
    )
    ax.set_xlim(lo, hi)
    ax.set_ylim(hi, lo)
    ax.set_xlabel("key position (bp)")
    ax.set_ylabel("query position (bp)")
    bp = FuncFormatter(lambda x, _: f"{int(round(x)):,}")
    if hi - lo <= BASES_SHOWN_UP_TO:
        # one letter per base, sized to the room a base has; bp numbers beyond the letters, their ticks pointing
        # into the heatmap so that no tick line crosses a letter
        # (the letters are sized to the room a base has once the figure is laid out: _size_letters)
        centres = np.arange(lo, hi) + 0.5
        bases = list(amap.sequence[lo - amap.start : hi - amap.start])
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_ticks(centres, labels=bases, minor=True, fontsize=6, fontfamily="monospace")
            axis.set_major_locator(MaxNLocator(4, integer=True))
            axis.set_major_formatter(bp)
        ax.tick_params(which="major", direction="in", color="white", length=4)
        ax.tick_params(which="minor", length=0, pad=1)
        ax._dnallm_bases = hi - lo
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(6, integer=True))
            axis.set_major_formatter(bp)
    if label:
        ax.set_title(label, fontsize=9)
    colorbar = subfig.colorbar(image, ax=[a for a in (ax_track, ax) if a is not None], shrink=0.8)
    colorbar.set_label("attention per bp" if bin_size == 1 else f"attention per bp, {bin_size} bp bins")
    if ax_track is not None:
        values = amap.track_for(layer, head)[lo - amap.start : hi - amap.start]
        x = np.arange(lo, hi + 1)
        ax_track.stairs(values, x, fill=True, color="#3b6ea8")
        ax_track.set_ylabel("received\n(" + ("from CLS" if amap.track_query == "cls" else "mean query") + ")",
                            fontsize=8)
        ax_track.tick_params(labelbottom=False, labelsize=7)
        ax_track.set_xlim(lo, hi)
    for start, end in highlight:
        if end > lo and start < hi:
            ax.axvspan(max(start, lo), min(end, hi), facecolor="none", edgecolor="#e8501f", linewidth=1.2)
            if ax_track is not None:
                ax_track.axvspan(max(start, lo), min(end, hi), color="#e8501f", alpha=0.3, linewidth=0)


# -- attribution: a logo of the per-bp scores, the ISM deltas beneath ---------------------------------------------

#: logomaker's classic colours, and N in grey
LOGO_COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839", "N": "#8a8a8a"}


def plot_attribution(record: Any, attribution: Any, index_or_id: int | str = 0,
                     region: tuple[int, int] | None = None, width: float | None = None,
                     highlight: Sequence[tuple[int, int]] = ()):
    """One record's attribution: a logo of its per-bp scores (each position's reference base, as tall as its
    score, negative scores below the axis) and, for ISM, the ``(L, 4)`` deltas as a heatmap beneath (rows
    A C G T, a diverging colormap centred at 0).

    Args:
        record: the record (``.id`` and ``.seq``, or the sequence as a string): its bases are the letters.
        attribution: a :class:`dnallm.attribution.Attribution` that holds the record.
        index_or_id: the record's position in ``attribution`` or its id.
        region: ``(start, end)`` record bp (0-based, end excluded) to zoom into; default the whole record.
        width: figure width in inches (default: by the number of bases shown, 4 to 16).
        highlight: record bp spans ``(start, end)`` to shade behind the logo (motif occurrences, say).

    Returns:
        matplotlib Figure. The x axis is in bp of the record, shared by both panels; base ``i`` is drawn
        centred at ``x = i`` (the limits are ``start - 0.5`` to ``end - 0.5``).

    Raises:
        DnallmError: the sequence is not as long as the record's scores, or the region is not inside it.
    """
    import matplotlib.pyplot as plt

    seq, rid, scores, lo, hi = _attribution_inputs(record, attribution, index_or_id, region)
    deltas = attribution.ism_of(index_or_id)[lo:hi] if attribution.ism is not None else None
    width = width or float(np.clip(4 + (hi - lo) * 0.16, 4, 16))
    rows = 2 if deltas is not None else 1
    fig, axes = plt.subplots(rows, 2, squeeze=False, layout="constrained", width_ratios=[1, 0.015],
                             figsize=(width, 4.2 if rows == 2 else 2.6), height_ratios=[1.6, 1][:rows])
    axes[0, 1].set_axis_off()  # the column of the heatmap's colorbar, kept so that both panels share one width
    logo_ax = axes[0, 0]
    logo_ax._dnallm_logo = _logo(logo_ax, seq[lo:hi], scores[lo:hi], lo)
    logo_ax.set_ylabel(f"score\n({attribution.target})", fontsize=8)
    bottom, top = min(0.0, float(scores[lo:hi].min())), max(0.0, float(scores[lo:hi].max()))
    logo_ax.set_ylim(bottom - 0.06 * (top - bottom), top + 0.06 * (top - bottom) or 1.0)
    for start, end in highlight:
        if end > lo and start < hi:
            logo_ax.axvspan(max(start, lo) - 0.5, min(end, hi) - 0.5, color="#e8501f", alpha=0.12, linewidth=0,
                            zorder=-1)
    if deltas is not None:
        axes[1, 0].sharex(logo_ax)
        _ism_heatmap(fig, axes[1, 0], axes[1, 1], deltas, lo, hi, attribution.target)
    _bp_axis(axes[-1, 0], lo, hi, rid)
    shown = "" if (lo, hi) == (0, len(seq)) else f", bp {lo:,}-{hi:,}"
    method = "ISM" if attribution.method == "ism" else attribution.method.replace("_", " ")
    fig.suptitle(f"{rid}: {method}, target {attribution.target}{shown}",
                 fontsize=10)
    return fig


def _attribution_inputs(record, attribution, index_or_id, region) -> tuple[str, str, np.ndarray, int, int]:
    """The record's bases, id, per-bp scores and the bp span to draw, checked against each other."""
    from dnallm.errors import DnallmError

    index = attribution._index(index_or_id)
    rid = attribution.ids[index]
    seq = record if isinstance(record, str) else record.seq
    scores = attribution.scores_of(index)
    if len(seq) != len(scores):
        name = "" if isinstance(record, str) else f" '{record.id}'"
        raise DnallmError(f"the record{name} is {len(seq):,} bp but the attribution of '{rid}' has "
                          f"{len(scores):,} scores; give the record that was attributed")
    lo, hi = region if region is not None else (0, len(seq))
    if not 0 <= lo < hi <= len(seq):
        raise DnallmError(f"region {lo:,}-{hi:,} is not inside record '{rid}' (0-{len(seq):,} bp); give START-END "
                          f"with 0 <= START < END <= {len(seq):,}")
    return seq, rid, scores, lo, hi


def logomaker_module():
    """logomaker (a dependency of dnallm), or a DnallmError saying how to install it."""
    from dnallm.errors import DnallmError

    try:
        import logomaker
    except ImportError:
        raise DnallmError("attribution figures need logomaker, which is not installed: "
                          "pip install 'logomaker>=0.8' (a dependency of dnallm)") from None
    return logomaker


def _logo(ax, bases: str, scores: np.ndarray, lo: int):
    """A logomaker logo: at each bp the reference base, its height the score (below the axis if negative)."""
    import pandas as pd

    logomaker = logomaker_module()

    letters = sorted(set("ACGT") | set(bases))
    heights = np.zeros((len(bases), len(letters)))
    heights[np.arange(len(bases)), [letters.index(b) for b in bases]] = scores
    matrix = pd.DataFrame(heights, index=np.arange(lo, lo + len(bases)), columns=letters)
    logo = logomaker.Logo(matrix, ax=ax, color_scheme={b: LOGO_COLOURS.get(b, "#444444") for b in letters},
                          flip_below=False, font_name="DejaVu Sans Mono", baseline_width=0.6)
    logo.style_spines(visible=False)
    logo.style_spines(spines=["left"], visible=True)
    ax.tick_params(labelbottom=False, bottom=False, labelsize=7)
    return logo


def _ism_heatmap(fig, ax, cax, deltas: np.ndarray, lo: int, hi: int, target: str) -> None:
    """The ISM deltas ``(hi - lo, 4)`` as rows A C G T over bp, coloured around 0."""
    limit = float(np.abs(deltas).max()) or 1.0
    image = ax.imshow(deltas.T, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest",
                      extent=(lo - 0.5, hi - 0.5, 3.5, -0.5))
    ax.set_yticks(range(4), labels=list("ACGT"), fontsize=8, fontfamily="monospace")
    ax.set_ylabel("mutant base", fontsize=8)
    colorbar = fig.colorbar(image, cax=cax)
    colorbar.set_label(f"ISM delta\n({target})", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)


def _bp_axis(ax, lo: int, hi: int, rid: str) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(10, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(round(x)):,}"))
    ax.tick_params(axis="x", labelsize=7, labelbottom=True, bottom=True)
    ax.set_xlabel(f"position in {rid} (bp, 0-based)", fontsize=8)
    ax.set_xlim(lo - 0.5, hi - 0.5)
