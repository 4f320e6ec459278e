"""Write the table of bad VCF records and files and what `dnallm variants` gives for each, as docs/variants.md
shows it.

    python docs/variant_cases.py

Each record case is one line of a VCF on examples/data/phiX174.fa, all in one file, run through `dnallm variants`
with the demo model: the skip list's reason for it (or "scored"). Each file case is a whole file: the exit code
and the one stderr line. Nothing here is typed by hand: the messages are the program's own.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
HEADER = "##fileformat=VCFv4.2\n##contig=<ID=phix,length=5386>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
SEQ = "".join((REPO / "examples" / "data" / "phiX174.fa").read_text().split("\n")[1:]).upper()
REF, OTHER = SEQ[99], "T" if SEQ[99] != "T" else "A"

RECORDS = [  # (case, the VCF record; POS 100 holds REF)
    ("an SNV", f"phix\t100\tok\t{REF}\t{OTHER}"),
    ("REF unlike the genome", f"phix\t100\tmismatch\t{OTHER}\tG"),
    ("contig named with 'chr', genome without", f"chrphix\t100\tchr\t{REF}\t{OTHER}"),
    ("contig not in the genome", "chr7\t100\tcontig\tA\tG"),
    ("position past the contig's end", "phix\t6000\tbeyond\tA\tG"),
    ("symbolic ALT", f"phix\t100\tsv\t{REF}\t<DEL>"),
    ("spanning deletion", f"phix\t100\tstar\t{REF}\t*"),
    ("breakend", f"phix\t100\tbnd\t{REF}\t{REF}]phix:300]"),
    ("ALT equal to REF", f"phix\t100\tsame\t{REF}\t{REF}"),
    ("no ALT", f"phix\t100\tnoalt\t{REF}\t."),
    ("ALT with other letters", f"phix\t100\tletters\t{REF}\tAXG"),
    ("POS not a number", "phix\tabc\tpos\tA\tG"),
    ("fields separated by spaces", f"phix 100 spaces {REF} {OTHER} . . ."),
    ("too few fields", "phix\t100\tshort"),
    ("POS past 32 bits", "phix\t4294967397\twraps\tA\tG"),
    ("a header line among the records", "##INFO=<ID=late,Number=1,Type=Integer,Description=\"late\">"),
    ("REF longer than the window", f"phix\t100\tlongref\t{SEQ[99:400]}\t{REF}"),
]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "dnallm", "variants", *args, "-q"], capture_output=True, text=True,
                          env=env)


def record_table(tmp: Path) -> list[str]:
    genome = tmp / "phiX174.fa"
    shutil.copy(REPO / "examples" / "data" / "phiX174.fa", genome)
    vcf = tmp / "cases.vcf"
    lines = [rec + ("\t.\t.\t." if rec.count("\t") >= 4 else "") for _, rec in RECORDS]
    vcf.write_text(HEADER + "\n".join(lines) + "\n")
    result = _run(str(vcf), "--genome", str(genome), "-o", str(tmp / "out.tsv"))
    assert result.returncode == 0, result.stderr
    skipped = pd.read_csv(tmp / "out.tsv.skipped.tsv", sep="\t", keep_default_na=False)
    by_line = dict(zip(skipped["where"].str.rsplit(":", n=1).str[1].astype(int), skipped["reason"]))
    rows = ["| case | VCF record | what `dnallm variants` gives |", "|---|---|---|"]
    for number, (case, record) in enumerate(RECORDS, start=4):
        shown = record.replace("\t", " ")
        shown = shown if len(shown) < 60 else shown[:40] + "..." + shown[-10:]
        rows.append(f"| {case} | `{shown}` | {by_line.get(number, 'scored').replace('|', chr(92) + '|')} |")
    return rows


def file_table(tmp: Path) -> list[str]:
    genome = tmp / "phiX174.fa"
    good = HEADER + f"phix\t100\tok\t{REF}\t{OTHER}\t.\t.\t.\n"
    (tmp / "empty.vcf").write_text("")
    (tmp / "fasta.vcf").write_text(">seq\nACGT\n")
    (tmp / "header.vcf").write_text(HEADER)
    (tmp / "good.vcf").write_text(good)
    with gzip.open(tmp / "plain.fa.gz", "wt") as fh:
        fh.write(genome.read_text())
    cases = [
        ("an empty file", ["empty.vcf", "--genome", "phiX174.fa"]),
        ("a FASTA file given as the VCF", ["fasta.vcf", "--genome", "phiX174.fa"]),
        ("a header without records", ["header.vcf", "--genome", "phiX174.fa"]),
        ("a genome that is not there", ["good.vcf", "--genome", "missing.fa"]),
        ("a VCF given as the genome", ["good.vcf", "--genome", "good.vcf"]),
        ("a plain-gzip genome (not bgzip)", ["good.vcf", "--genome", "plain.fa.gz"]),
        ("the output over the input", ["good.vcf", "--genome", "phiX174.fa", "-o", "good.vcf"]),
    ]
    rows = ["| file | exit | stderr |", "|---|---:|---|"]
    for case, args in cases:
        args = [str(tmp / a) if not a.startswith("-") else a for a in args]
        if "-o" not in args:
            args += ["-o", str(tmp / "out2.tsv")]
        result = _run(*args)
        line = " ".join(result.stderr.split()).replace(str(tmp) + "/", "").replace("|", "\\|") or "(nothing)"
        rows.append(f"| {case} | {result.returncode} | {line} |")
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("\n".join(record_table(tmp)))
        print()
        print("\n".join(file_table(tmp)))


if __name__ == "__main__":
    main()
