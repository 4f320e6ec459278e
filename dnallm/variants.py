"""Variant effects: a VCF and its reference genome in, one row of scores per (site, ALT) out.

**Windows.** Each (site, ALT) is scored on the window of ``width`` bp (default: the model's input length, see
:func:`default_width`) centred on the REF allele: ``window_start = pos0 - (width - len(REF)) // 2`` (``pos0`` the
0-based position), kept inside the contig: near a contig end the window is moved inward to keep its width (the
variant is then off-centre), and a contig shorter than the window is taken whole.
``window_start``/``window_end`` (0-based, half-open, on the contig) name it in the output. The REF input is the
genome's bases there; the ALT input is the same window with REF replaced by ALT, starting at the same base and
kept at the REF window's length: an insertion's window loses bases at its right (3') end, a deletion's takes
more bases of the genome at its right end (fewer where the contig ends). With ``both_strands`` each input is also
run reverse-complemented and the two strands' scores are averaged.

**Scores** (columns after ``chrom pos id ref alt window_start window_end``):

- classifiers (``classification``, ``multilabel``): ``ref_<label>``, ``alt_<label>`` (probabilities) and
  ``delta_<label>`` (alt - ref) per label, and ``log_odds_ratio_<target>``: the log-odds of the target label
  (default the last) on ALT minus that on REF;
- regression: ``ref_<name>``, ``alt_<name>``, ``delta_<name>`` per output;
- masked language models: ``llr`` = log p(ALT) - log p(REF) at the variant, zero-shot: the REF window is run once
  with the tokens covering the variant masked, and each masked token's log-probability of its ALT form minus its
  REF form is read (both forms are the tokens the tokenizer gives the ALT and REF windows there). Single
  nucleotide and non-overlapping k-mer models: the sum over the masked tokens (the base's token; the k-mer or
  single base holding it). Overlapping k-mers (DNABERT): the k tokens that contain the base are masked (as
  DNABERT masks) and ``llr`` is their mean. BPE: scored when the ALT window tokenizes with the REF window's token
  boundaries, or when each masked REF token with the ALT bases in it is itself a token of the vocabulary (then
  with the REF boundaries); otherwise not scored. Substitutions only (SNVs; MNVs except for overlapping k-mers):
  an indel changes the sequence's length, which a masked position cannot hold, so indels are not scored by
  masked LMs.

**Not scored** (listed in the skip list with the reason, counted; ``on_error="raise"`` stops at the first): a
record htslib cannot parse (file:line), a contig the genome lacks (the ``chr`` spelling that would match is
named), a position past the contig's end, REF unlike the genome (both shown), a symbolic ALT (``<DEL>``, ``*``,
breakends) or missing ALT, ALT equal to REF, bases other than A C G T N in ALT, a window with more than
``max_n`` (default 10%) N, an ALT longer than its window, a window of more tokens than the model takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError, InputError, OptionError
from dnallm.heads import HEADS, Batch, Head, logits
from dnallm.io.genome import ContigError, Genome
from dnallm.io.options import Skipped
from dnallm.io.variants import BadLine, Site, SiteBlock, VcfReader
from dnallm.motifs import reverse_complement
from dnallm.runner import RunStats
from dnallm.targets import log_odds, target_index

KEYS = ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end"]
MAX_N = 0.1
ON_ERROR = ("skip", "raise")
SCORED_HEADS = ("classification", "multilabel", "regression", "masked_lm")
_ALT = frozenset("ACGTN")


class NotScored(Exception):
    """Why one (site, ALT) is not scored."""


@dataclass
class Variant:
    """One (site, ALT) with its window (``start``, ``end`` on the contig) and the variant at ``offset`` in it."""

    site: Site
    alt: str
    alt_index: int
    start: int
    end: int
    ref_seq: str
    alt_seq: str

    @property
    def offset(self) -> int:
        return self.site.pos - 1 - self.start


def variant_name(site: Site, alt: str) -> str:
    return f"{site.chrom}:{site.pos}:{_short(site.ref)}>{_short(alt)}"


# -- the window of a variant ---------------------------------------------------------------------------------


def _longest_bp(tokenizer: Any) -> int | None:
    """The most bp one input of the model holds: content tokens for single-nucleotide and BPE models (a BPE token
    holds at least one bp), ``tokens + k - 1`` for overlapping k-mers, ``tokens * k`` for non-overlapping k-mers;
    None when the model's length is unknown."""
    tokens, k = tokenizer.max_content_tokens, tokenizer.k or 1
    if tokens is None:
        return None
    return {"overlapping_kmer": tokens + k - 1, "nonoverlapping_kmer": tokens * k}.get(tokenizer.family, tokens)


def default_width(tokenizer: Any, trained_length_bp: tuple[int, int] | None) -> int:
    """The window in bp: the longest the model was trained on where its config says (and it fits), else
    :func:`_longest_bp` (for BPE that always fits; give a longer ``window`` for more)."""
    most = _longest_bp(tokenizer)
    if most is None:
        raise DnallmError("the model's maximum input length is unknown: give the window in bp (--window)")
    if trained_length_bp is not None and trained_length_bp[1] <= most:
        return int(trained_length_bp[1])
    return most


def check_width(tokenizer: Any, width: int) -> None:
    """Refuse, before anything runs, a window the model cannot take in one input (for the families whose tokens
    per bp are fixed)."""
    family, k = tokenizer.family, tokenizer.k or 1
    shortest = k if family == "overlapping_kmer" else 1
    if width < shortest:
        raise OptionError(f"the window must be at least {shortest} bp for this model, not {width}")
    longest = _longest_bp(tokenizer)
    if longest is not None and family != "bpe" and width > longest:
        raise OptionError(f"a {width:,} bp window is more than one input of the model holds ("
                          f"{tokenizer.max_content_tokens:,} {family} tokens besides its special tokens); the "
                          f"longest window is {longest:,} bp")


def plan_site(site: Site, genome: Genome) -> str:
    """The genome's contig of a site, after the checks every ALT shares."""
    try:
        contig = genome.contig(site.chrom)
    except ContigError as exc:
        raise NotScored(str(exc)) from None
    length, start = genome.lengths[contig], site.pos - 1
    if start + len(site.ref) > length:
        raise NotScored(f"position {site.pos:,} is beyond the end of contig '{contig}' ({length:,} bp)")
    ref = genome.fetch(contig, start, start + len(site.ref))
    if ref != site.ref.upper():
        raise NotScored(f"REF '{_short(site.ref)}' does not match the genome, which has '{_short(ref)}' at "
                        f"{contig}:{site.pos:,}")
    return contig


def plan_alt(site: Site, contig: str, alt: str, alt_index: int, genome: Genome, width: int, max_n: float) -> Variant:
    """The window of one ALT of a checked site (see the module docstring), or NotScored."""
    if alt in ("", ".") or alt == "*" or alt.startswith("<") or "[" in alt or "]" in alt:
        what = "no ALT allele ('.')" if alt in ("", ".") else f"symbolic ALT '{alt}'"
        raise NotScored(f"{what}: dnallm scores ALTs that are sequences")
    alt = alt.upper()
    if not set(alt) <= _ALT:
        raise NotScored(f"ALT '{_short(alt)}' holds characters other than A C G T N")
    ref = site.ref.upper()
    if alt == ref:
        raise NotScored("ALT equals REF: nothing changes")
    if len(ref) > width:
        raise NotScored(f"REF ({len(ref):,} bp) is longer than the {width:,} bp window; give a longer window "
                        "(--window)")
    pos0, length = site.pos - 1, genome.lengths[contig]
    start = min(max(0, pos0 - (width - len(ref)) // 2), max(0, length - width))  # moved inside the contig
    end = min(length, start + width)
    ref_seq = genome.fetch(contig, start, end)
    n_fraction = ref_seq.count("N") / len(ref_seq)
    if n_fraction > max_n:
        raise NotScored(f"the window {contig}:{start:,}-{end:,} is {n_fraction:.0%} N, more than max_n "
                        f"{max_n:.0%} (--max-n)")
    offset = pos0 - start
    if offset + len(alt) > len(ref_seq):
        hint = ("; near the contig's end no window holds it" if end == length and len(alt) <= width
                else "; give a longer window (--window)")
        raise NotScored(f"the ALT ({len(alt):,} bp) does not fit in the {len(ref_seq):,} bp window from its "
                        f"position on{hint}")
    alt_seq = ref_seq[:offset] + alt + ref_seq[offset + len(ref) :]
    if len(alt_seq) > len(ref_seq):  # an insertion: cut at the right end
        alt_seq = alt_seq[: len(ref_seq)]
    elif len(alt_seq) < len(ref_seq):  # a deletion: more genome at the right end, as far as the contig goes
        alt_seq += genome.fetch(contig, end, min(length, end + len(ref_seq) - len(alt_seq)))
    return Variant(site, alt, alt_index, start, end, ref_seq, alt_seq)


def _short(text: str) -> str:
    return text if len(text) <= 20 else f"{text[:17]}... ({len(text):,} bp)"


# -- model inputs ---------------------------------------------------------------------------------------------


def _encode(tokenizer: Any, seq: str, what: str) -> Any:
    try:
        return tokenizer.encode(seq)
    except InputError as exc:
        try:
            n = len(tokenizer.tokenize(seq)[0]) + tokenizer.n_special
        except InputError:  # too short for one token (a k-mer window at the end of a short contig)
            raise NotScored(f"the {what} window ({len(seq)} bp): {exc.reason}") from None
        raise NotScored(f"the {what} window takes {n:,} tokens, more than the model's {tokenizer.max_tokens:,}; "
                        "give a shorter window (--window)") from None


def _masked(tokenizer: Any, ref_seq: str, alt_seq: str, offset: int, n: int, strand: str) -> Any:
    """The REF window with the tokens covering bp ``[offset, offset + n)`` masked, and each one's query
    ``(position, REF token, ALT token)`` (see the module docstring)."""
    ref = _encode(tokenizer, ref_seq, f"REF{strand}")
    alt = _encode(tokenizer, alt_seq, f"ALT{strand}")
    spans = ref.spans
    covering = np.flatnonzero((spans[:, 0] >= 0) & (spans[:, 0] < offset + n) & (spans[:, 1] > offset))
    if np.array_equal(ref.spans, alt.spans):
        alt_ids = alt.input_ids[covering]
    elif tokenizer.family == "bpe":
        forms = [alt_seq[spans[i, 0] : spans[i, 1]] for i in covering]
        alt_ids = np.array([tokenizer.vocab.get(form, -1) for form in forms])
        if (alt_ids < 0).any():
            raise NotScored(f"masked LM: the ALT window{strand} tokenizes with other token boundaries than the REF "
                            f"window and '{forms[int(np.argmax(alt_ids < 0))]}' is not a token of the vocabulary "
                            "(BPE)")
    else:
        raise NotScored(f"masked LM: the ALT window{strand} tokenizes with other token boundaries than the REF "
                        "window")
    ids = ref.input_ids.copy()
    ids[covering] = tokenizer.hf.mask_token_id
    queries = np.stack([covering, ref.input_ids[covering], alt_ids], axis=1).astype(np.int64)
    return replace(ref, input_ids=ids, queries=queries)


def _inputs(variant: Variant, tokenizer: Any, head: str, both_strands: bool) -> list[Any]:
    """The encodings of one variant: REF and ALT (classifiers, regression) or the masked REF window (masked
    LMs), then the same on the reverse strand."""
    strands = [(variant.ref_seq, variant.alt_seq, variant.offset, "")]
    if both_strands:
        ref_rc, alt_rc = reverse_complement(variant.ref_seq), reverse_complement(variant.alt_seq)
        strands.append((ref_rc, alt_rc, len(variant.ref_seq) - variant.offset - len(variant.site.ref),
                        " (reverse strand)"))
    out = []
    for ref_seq, alt_seq, offset, strand in strands:
        if head == "masked_lm":
            out.append(_masked(tokenizer, ref_seq, alt_seq, offset, len(variant.alt), strand))
        else:
            out += [_encode(tokenizer, ref_seq, f"REF{strand}"), _encode(tokenizer, alt_seq, f"ALT{strand}")]
    return out


def _check_masked(variant: Variant, tokenizer: Any) -> None:
    if len(variant.alt) != len(variant.site.ref):
        raise NotScored("masked LM: an indel is not scored (llr is defined for substitutions: REF and ALT of the "
                        "same length)")
    if tokenizer.family == "overlapping_kmer" and len(variant.alt) > 1:
        raise NotScored("masked LM with overlapping k-mers: llr is defined for SNVs, not MNVs")
    if "N" in variant.alt or "N" in variant.site.ref.upper():
        raise NotScored("masked LM: REF or ALT holds N")


# -- heads ----------------------------------------------------------------------------------------------------


def _masked_llr(model: Any, batch: Batch) -> Any:
    """``(batch, 2)``: the sum over an input's queries of log p(ALT token) - log p(REF token), and their count."""
    import torch

    queries = batch["queries"]
    valid = queries[..., 0] >= 0
    positions = queries[..., 0].clamp(min=0)
    rows = positions.new_tensor(range(len(positions)))[:, None].expand_as(positions)
    log_p = logits(model, batch)[rows, positions].log_softmax(-1)
    diff = (log_p.gather(-1, queries[..., 2:3].clamp(min=0)) - log_p.gather(-1, queries[..., 1:2].clamp(min=0)))
    diff = diff[..., 0] * valid
    return torch.stack([diff.sum(1), valid.sum(1).to(diff.dtype)], 1)


def _with_log_odds(kind: str, index: int):
    """Probabilities of every label, then the target label's log-odds: ``(batch, labels + 1)``."""
    import torch

    def compute(model: Any, batch: Batch) -> Any:
        values = logits(model, batch)
        if kind == "multilabel":
            return torch.cat([values.sigmoid(), values[:, index : index + 1]], 1)
        return torch.cat([values.softmax(-1), log_odds(values, index)], 1)

    return compute


@dataclass
class Scorer:
    """What is computed for each input and how a variant's score columns come from it."""

    head: Head
    columns: list[str]
    kind: str
    family: str
    per_variant: int

    def scores(self, values: np.ndarray) -> np.ndarray:
        """``(n_variants * per_variant, dim)`` outputs -> ``(n_variants, len(columns))`` float32."""
        values = values.astype(np.float64).reshape(-1, self.per_variant, values.shape[1])
        if self.kind == "masked_lm":
            llr = values[..., 0] / (values[..., 1] if self.family == "overlapping_kmer" else 1)
            return llr.mean(1, keepdims=True).astype(np.float32)
        ref, alt = values[:, 0::2].mean(1), values[:, 1::2].mean(1)  # both strands: the mean of the two
        parts = [ref, alt, alt - ref]
        if self.kind != "regression":  # probabilities before the target's log-odds
            parts = [ref[:, :-1], alt[:, :-1], alt[:, :-1] - ref[:, :-1], alt[:, -1:] - ref[:, -1:]]
        return np.concatenate(parts, 1).astype(np.float32)


def scorer(head: str, config: Any, tokenizer: Any, target: str | None, both_strands: bool,
           model_name: str) -> Scorer:
    strands = 2 if both_strands else 1
    if head not in SCORED_HEADS:
        what = "a bare encoder" if head == "encoder" else f"a {head.replace('_', ' ')} model"
        raise DnallmError(f"{model_name} is {what}: variant effects are scored for classifiers, regressors and "
                          "masked language models")
    if head == "masked_lm":
        if tokenizer.hf.mask_token_id is None:
            raise DnallmError(f"{model_name}: its tokenizer has no mask token, which the masked-LM score needs")
        if target not in (None, "llr"):
            raise OptionError(f"{model_name} is a masked language model: its variant score is llr, not {target!r}")
        return Scorer(Head("variant_llr", lambda c: ["llr"], _masked_llr), ["llr"], head, tokenizer.family, strands)
    names = HEADS[head].columns(config)
    if head == "regression":
        if target is not None:
            raise OptionError(f"{model_name} is a regression model: every output is scored; --target is for labels")
        compute = HEADS[head].compute
    else:
        index = target_index(config, names, target, model_name)
        compute = _with_log_odds(head, index)
    columns = [f"{part}_{name}" for part in ("ref", "alt", "delta") for name in names]
    if head != "regression":
        columns.append(f"log_odds_ratio_{names[index]}")
    return Scorer(Head(f"variant_{head}", lambda c: columns, compute), columns, head, tokenizer.family, 2 * strands)


# -- the run --------------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    variants: list[Variant] = field(default_factory=list)
    encodings: list[Any] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    records: int = 0  # VCF records finished by this chunk (scored or not)
    tokens: int = 0


def _chunks(reader: VcfReader, genome: Genome, runner: Any, score: Scorer, width: int, max_n: float,
            both_strands: bool, raise_errors: bool) -> Iterator[_Chunk]:
    """Variants with their inputs, about the runner's chunk of tokens at a time (on the prefetch thread)."""
    budget = runner.chunk_batches * runner.max_batch_tokens
    tokenizer, chunk = runner.tokenizer, _Chunk()

    def skip(name: str, where: str, reason: str) -> None:
        if raise_errors:
            raise InputError.at(f"{where} ({name})" if name != "." else where, reason)
        chunk.skipped.append(Skipped(name, where, reason))

    for item in reader:
        where = f"{reader.path}:{item.line}"
        if isinstance(item, BadLine):
            skip(".", where, f"malformed VCF record: {item.reason}")
        else:
            try:
                contig = plan_site(item, genome)
            except NotScored as exc:
                for alt in item.alts or (".",):
                    skip(variant_name(item, alt), where, str(exc))
                contig = None
            for j, alt in enumerate((item.alts or (".",)) if contig is not None else ()):
                try:
                    variant = plan_alt(item, contig, alt, j, genome, width, max_n)
                    if score.kind == "masked_lm":
                        _check_masked(variant, tokenizer)
                    inputs = _inputs(variant, tokenizer, score.kind, both_strands)
                except NotScored as exc:
                    skip(variant_name(item, alt), where, str(exc))
                    continue
                chunk.variants.append(variant)
                chunk.encodings += inputs
                chunk.tokens += sum(len(e) for e in inputs)
        chunk.records += 1
        if chunk.tokens >= budget or len(chunk.variants) >= runner.chunk_records:
            yield chunk
            chunk = _Chunk()
    yield chunk


def _frame(variants: list[Variant], columns: list[str], values: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({
        "chrom": [v.site.chrom for v in variants], "pos": np.array([v.site.pos for v in variants], np.int64),
        "id": [v.site.id for v in variants], "ref": [v.site.ref for v in variants], "alt": [v.alt for v in variants],
        "window_start": np.array([v.start for v in variants], np.int64),
        "window_end": np.array([v.end for v in variants], np.int64),
    })
    for i, name in enumerate(columns):
        out[name] = values[:, i]
    return out


def iter_scores(runner: Any, loaded: Any, vcf: Any, genome: Any, *, window: int | None = None,
                target: str | None = None, both_strands: bool = False, max_n: float = MAX_N,
                chrom_alias: Any = None, on_error: str = "skip", on_skip: Any = None, progress: bool = False,
                model_name: str = "the model", with_keys: bool = False) -> Iterator[Any]:
    """DataFrames of consecutive (site, ALT) rows in VCF order (see the module docstring); ``with_keys``:
    ``(frame, keys)`` pairs, ``keys`` ``(rows, 2)`` int64 = (VCF record index from 0, ALT index) of each row.
    Statistics in ``runner.last_run``."""
    from dnallm.batching import prefetch

    if on_error not in ON_ERROR:
        raise OptionError(f"on_error must be {' or '.join(repr(p) for p in ON_ERROR)}, not {on_error!r}")
    if not 0 <= max_n <= 1:
        raise OptionError(f"max_n is a fraction of the window, from 0 to 1, not {max_n}")
    tokenizer = runner.tokenizer
    score = scorer(loaded.head, loaded.model.config, tokenizer, target, both_strands, model_name)
    width = default_width(tokenizer, loaded.trained_length_bp) if window is None else int(window)
    check_width(tokenizer, width)
    opened = not isinstance(genome, Genome)
    genome = Genome(genome, chrom_alias) if opened else genome
    try:
        reader = vcf if isinstance(vcf, SiteBlock) else VcfReader(vcf)
    except BaseException:
        if opened:
            genome.close()
        raise
    stats = runner.last_run = RunStats()
    bar = _bar(reader, progress)
    start = time.perf_counter()
    try:
        for chunk in prefetch(_chunks(reader, genome, runner, score, width, max_n, both_strands,
                                      on_error == "raise")):
            for item in chunk.skipped:
                stats.skipped.append(item)
                if on_skip is not None:
                    on_skip(item)
            values = np.zeros((0, len(score.columns)), np.float32)
            if chunk.variants:
                after = _advance(bar, score.per_variant, len(chunk.variants), chunk.records) if bar else None
                values = score.scores(runner.forward(chunk.encodings, score.head, after))
                stats.records += len(chunk.variants)
                stats.windows += len(chunk.encodings)
            if bar is not None:
                bar.done += chunk.records
                bar.update(bar.done - bar.n)
            out = _frame(chunk.variants, score.columns, values)
            if with_keys:
                yield out, np.array([(v.site.index, v.alt_index) for v in chunk.variants], np.int64).reshape(-1, 2)
            else:
                yield out
    finally:
        stats.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        reader.close()
        if opened:
            genome.close()


def _bar(reader: VcfReader, progress: bool) -> Any:
    if not progress:
        return None
    from dnallm.io.variants import count_records
    from dnallm.progress import Progress

    bar = Progress(total=count_records(reader.path), unit="variants", desc="dnallm variants")
    bar.done = 0
    return bar


def _advance(bar: Any, per_variant: int, n: int, records: int):
    """The ``after_batch`` that moves the bar (in VCF records) as a chunk's ``n`` variants finish."""
    left = np.full(n, per_variant)

    def advance(batch_index: np.ndarray) -> None:
        np.subtract.at(left, batch_index // per_variant, 1)
        bar.update(bar.done + records * int((left == 0).sum()) // n - bar.n)

    return advance
