"""Writes c_diphtheriae_genes.bed: the genes pyrodigal predicts on c_diphtheriae_NCTC11397.fna.gz (single-genome
mode, both strands), as BED6 (0-based start, end, name gene_N, score = pyrodigal's score rounded, strand).

    pip install pyrodigal==3.7.1 && python examples/data/c_diphtheriae_genes.py
"""

import gzip
from pathlib import Path

import pyrodigal

HERE = Path(__file__).resolve().parent

with gzip.open(HERE / "c_diphtheriae_NCTC11397.fna.gz", "rt") as fh:
    header, *lines = fh.read().split("\n")
name, seq = header[1:].split()[0], "".join(lines)
finder = pyrodigal.GeneFinder()
finder.train(seq)
with open(HERE / "c_diphtheriae_genes.bed", "w") as out:
    for i, gene in enumerate(finder.find_genes(seq), 1):
        strand = "+" if gene.strand == 1 else "-"
        out.write(f"{name}\t{gene.begin - 1}\t{gene.end}\tgene_{i}\t{round(gene.score)}\t{strand}\n")
