"""Which per-bp scores find the motif? Every attribution method on known motif sites, and motif discovery from each.

    python benchmarks/attribution_methods.py                 # the table in docs/attribution.md
    python benchmarks/attribution_methods.py --quick         # fewer records (a smoke run, about 3 minutes)

Tasks (each: a model, records with known sites, the target explained):

- ``planted``: the planted-motif classifier (examples/models/planted-pou5f1, trained by
  ``python examples/train_planted_model.py`` on random 100 bp sequences, half with one POU5F1 site sampled from
  JASPAR MA1115.1); held-out planted sequences, the site's 11 bp are the truth; target ``planted``.
- ``oct4``: the demo model, Oct4 test peaks holding the octamer ATGCAAAT (either strand); target Oct4.
- ``maf``: the demo model, Mafk test peaks holding the MARE half-site TGCTGA (either strand); target Mafk.

Per method: the per-bp AUROC of the site bases against all other bases of those records (site_auroc), and
seconds per record (the attribution alone, after a warm-up). Then motif discovery (``find_motifs`` with
those scores) on the planted task, planted sequences against the unplanted ones: the rank of the first motif
whose Tomtom matches include POU5F1 (MA1115.1) and that match's q-value, or ``-`` when none does.
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from dnallm import DNAInference  # noqa: E402
from dnallm.planted import MOTIF_ID, planted_task, site_auroc, word_sites  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLANTED_MODEL = ROOT / "examples" / "models" / "planted-pou5f1"
DATA = ROOT / "examples" / "data"
METHODS = [("attention", 0), ("attention", -1), ("attention", "all"), ("ism", None),
           ("integrated_gradients", None), ("gradient_x_input", None)]


def method_name(method: str, layer) -> str:
    return method if layer is None else f"attention layer {layer}"


def fasta(path: Path, n: int) -> list[tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    records, rid = [], None
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                rid = line[1:].strip()
            else:
                records.append((rid, line.strip().upper()))
                if len(records) == n:
                    break
    return records


def tasks(n: int) -> list[tuple[str, DNAInference, list, list, str | None]]:
    """(name, model, records, sites, target) of each task; records without a site are left out."""
    task = planted_task(n=2 * n, seed=1)
    planted = [(rec, site) for rec, site in zip(task.records, task.sites) if site is not None][:n]
    demo = DNAInference()
    out = [("planted", DNAInference(PLANTED_MODEL), [r for r, _ in planted], [s for _, s in planted], None)]
    for name, path, words, target in (("oct4", "oct4_test.fa", ("ATGCAAAT", "ATTTGCAT"), "Oct4"),
                                      ("maf", "mafk_test.fa", ("TGCTGA", "TCAGCA"), "Mafk")):
        records = [(rid, seq) for rid, seq in fasta(DATA / path, 100) if word_sites(seq, words)][:n]
        out.append((name, demo, records, [word_sites(seq, words) for _, seq in records], target))
    return out


def score(inf: DNAInference, records: list, method: str, layer, target: str | None):
    kwargs = {"layer": layer} if method == "attention" else {"target": target}
    inf.attribute(records[:1], method=method, **kwargs)  # warm-up
    start = time.perf_counter()
    result = inf.attribute(records, method=method, **kwargs)
    seconds = (time.perf_counter() - start) / len(records)
    return [result.scores_of(i) for i in range(len(records))], seconds


def recovery(inf: DNAInference, n: int, method: str, layer) -> tuple[str, str, str]:
    """(rank, q-value, best match of motif 1) of motif discovery with these scores on the planted task."""
    task = planted_task(n=2 * n, seed=2)
    result = inf.find_motifs(task.split(1), task.split(0), scores=method, layer=layer if layer is not None else -1)
    best = result.motifs[0].matches[0].name if result.motifs and result.motifs[0].matches else "-"
    for rank, motif in enumerate(result.motifs, 1):
        hit = next((m for m in motif.matches if m.id == MOTIF_ID), None)
        if hit is not None:
            return str(rank), f"{hit.qvalue:.1e}", best
    return "-", "-", best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60, help="records per task with a known site")
    parser.add_argument("--discovery", type=int, default=600, help="planted task size for motif discovery")
    parser.add_argument("--quick", action="store_true", help="15 records, 300 for discovery")
    args = parser.parse_args()
    if args.quick:
        args.records, args.discovery = 15, 300
    rows = {method_name(m, layer): {} for m, layer in METHODS}
    for name, inf, records, sites, target in tasks(args.records):
        for method, layer in METHODS:
            scores, seconds = score(inf, records, method, layer, target)
            rows[method_name(method, layer)][name] = (site_auroc(scores, sites), seconds, len(records))
            print(f"# {name} {method_name(method, layer)}: AUROC {rows[method_name(method, layer)][name][0]:.3f}",
                  flush=True)
    planted_inf = DNAInference(PLANTED_MODEL)
    print("\n| scores | AUROC planted | AUROC Oct4 octamer | AUROC MAF half-site | s/record (planted, demo) "
          "| discovery on planted: rank of POU5F1, Tomtom q, motif 1's best match |")
    print("|---|---:|---:|---:|---:|---|")
    for method, layer in METHODS:
        row = rows[method_name(method, layer)]
        rank, q, best = recovery(planted_inf, args.discovery, method, layer)
        print(f"| {method_name(method, layer)} | {row['planted'][0]:.3f} | {row['oct4'][0]:.3f} | {row['maf'][0]:.3f} "
              f"| {row['planted'][1]:.3f}, {row['oct4'][1]:.3f} | {rank}, {q}, {best} |", flush=True)
    sizes = ", ".join(f"{name} {rows['ism'][name][2]}" for name in ("planted", "oct4", "maf"))
    print(f"\nrecords with a site: {sizes}; discovery: {args.discovery} planted-task sequences")


if __name__ == "__main__":
    main()
