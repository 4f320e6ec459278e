"""Variant effects: ref_/alt_ scores against a direct transformers forward on the windows each row names, for a
classifier of every tokenizer family; the masked-LM llr against a hand-computed masked forward; indel windows by
their documented rule; the bad-VCF cases; the annotated VCF read back with cyvcf2; the `dnallm variants` command."""

from __future__ import annotations

import gzip
import random
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from dnallm import DNAInference
from dnallm.errors import DnallmError, InputError
from dnallm.motifs import reverse_complement
from dnallm.testing import DATA, build_bigbird, build_dnabert, build_nt
from tests.support import FAMILIES, run_main

HEADER = "##fileformat=VCFv4.2\n##contig=<ID=phix,length=5386>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
KEYS = ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end"]


def phix() -> str:
    """The phiX174 genome (examples/data/phiX174.fa, contig 'phix'), read without dnallm."""
    lines = (DATA / "phiX174.fa").read_text().split("\n")
    return "".join(lines[1:]).upper()


@pytest.fixture()
def genome(tmp_path):
    """phiX174.fa copied to a folder of the test's own (its .fai index is written beside it)."""
    path = tmp_path / "phiX174.fa"
    shutil.copy(DATA / "phiX174.fa", path)
    return path


def write_vcf(path, rows, header=HEADER):
    """A VCF of ``(chrom, pos, id, ref, alt)`` rows."""
    with open(path, "w") as fh:
        fh.write(header)
        for row in rows:
            fh.write("\t".join(str(x) for x in row) + "\t.\t.\t.\n" if len(row) == 5 else row)
    return path


def snvs(n: int, seed: int = 0, ends: bool = True) -> list[tuple]:
    """``n`` SNVs at seeded places of phiX174 (REF from the genome), plus two near the contig's ends."""
    seq, rng = phix(), random.Random(seed)
    positions = sorted(rng.sample(range(10, len(seq) - 10), n) + ([2, len(seq) - 1] if ends else []))
    return [("phix", p + 1, f"v{i}", seq[p], rng.choice([b for b in "ACGT" if b != seq[p]]))
            for i, p in enumerate(positions)]


def hf_text(family: str, seq: str) -> str:
    return " ".join(seq[i : i + 6] for i in range(len(seq) - 5)) if family == "overlapping_kmer" else seq


def alt_window(seq: str, start: int, end: int, pos: int, ref: str, alt: str) -> str:
    """The documented ALT input: the REF window from its start with REF replaced by ALT, cut or extended at its
    right end to the REF window's length."""
    window = seq[start:end]
    o = pos - 1 - start
    out = window[:o] + alt + window[o + len(ref) :]
    if len(out) < len(window):
        out += seq[end : end + len(window) - len(out)]
    return out[: len(window)]


def direct_probabilities(path, family: str, seqs: list[str]) -> np.ndarray:
    """softmax of a plain transformers forward, one sequence at a time, tokenized by the model's own tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    for seq in seqs:
        ids = torch.tensor([tokenizer(hf_text(family, seq))["input_ids"]])
        with torch.inference_mode():
            out.append(model(input_ids=ids).logits.double().softmax(-1)[0].numpy())
    return np.array(out)


# -- exactness ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_ref_and_alt_equal_a_direct_forward_on_the_named_windows(model_dirs, genome, tmp_path, family):
    seq = phix()
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(6))
    inf = DNAInference(model_dirs[family])
    df = inf.score_variants(vcf, genome)
    assert list(df.columns[:7]) == KEYS
    assert len(df) == 8 and list(df["id"]) == [f"v{i}" for i in range(8)]
    width = df["window_end"] - df["window_start"]
    assert width.nunique() == 1  # the windows at the contig's ends are moved inward, not cut
    assert ((df["window_start"] <= df["pos"] - 1) & (df["pos"] <= df["window_end"])).all()
    refs = [seq[a:b] for a, b in zip(df["window_start"], df["window_end"])]
    alts = [alt_window(seq, a, b, p, r, x) for a, b, p, r, x in
            zip(df["window_start"], df["window_end"], df["pos"], df["ref"], df["alt"])]
    ref_p = direct_probabilities(model_dirs[family], family, refs)
    alt_p = direct_probabilities(model_dirs[family], family, alts)
    got_ref, got_alt = df[["ref_Mafk", "ref_Oct4"]].to_numpy(), df[["alt_Mafk", "alt_Oct4"]].to_numpy()
    assert np.abs(got_ref - ref_p).max() <= 2e-6
    assert np.abs(got_alt - alt_p).max() <= 2e-6
    assert np.abs(df["delta_Oct4"].to_numpy() - (alt_p[:, 1] - ref_p[:, 1])).max() <= 2e-6
    lor = np.log(alt_p[:, 1] / alt_p[:, 0]) - np.log(ref_p[:, 1] / ref_p[:, 0])
    assert np.abs(df["log_odds_ratio_Oct4"].to_numpy() - lor).max() <= 1e-4
    assert np.abs(df["delta_Oct4"]).max() > 1e-4  # the SNVs change the output (large init)


def test_indel_windows_follow_the_documented_rule(model_dirs, genome, tmp_path):
    seq = phix()
    rows = [("phix", 1000, "del", seq[999:1004], seq[999]), ("phix", 2000, "ins", seq[1999], seq[1999] + "ACGTACG"),
            ("phix", 5380, "del_end", seq[5379:5384], seq[5379]), ("phix", 3000, "mnv", seq[2999:3001], "TT")]
    rows = [r for r in rows if r[3] != r[4]]
    vcf = write_vcf(tmp_path / "indels.vcf", rows)
    inf = DNAInference(model_dirs["overlapping_kmer"])
    df = inf.score_variants(vcf, genome, window=60)
    assert list(df["id"]) == [r[2] for r in rows]
    assert ((df["window_end"] - df["window_start"]) == 60).all()
    alts = [alt_window(seq, a, b, p, r, x) for a, b, p, r, x in
            zip(df["window_start"], df["window_end"], df["pos"], df["ref"], df["alt"])]
    assert len(alts[0]) == 60 and len(alts[1]) == 60 and len(alts[2]) < 60  # the last one meets the contig's end
    direct = direct_probabilities(model_dirs["overlapping_kmer"], "overlapping_kmer", alts)
    assert np.abs(df[["alt_Mafk", "alt_Oct4"]].to_numpy() - direct).max() <= 2e-6


def test_both_strands_average_the_window_and_its_reverse_complement(model_dirs, genome, tmp_path):
    seq = phix()
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(3, ends=False))
    path = model_dirs["nonoverlapping_kmer"]
    df = DNAInference(path).score_variants(vcf, genome, both_strands=True, window=90)
    refs = [seq[a:b] for a, b in zip(df["window_start"], df["window_end"])]
    alts = [alt_window(seq, a, b, p, r, x) for a, b, p, r, x in
            zip(df["window_start"], df["window_end"], df["pos"], df["ref"], df["alt"])]
    fwd = direct_probabilities(path, "nonoverlapping_kmer", refs + alts)
    rev = direct_probabilities(path, "nonoverlapping_kmer", [reverse_complement(s) for s in refs + alts])
    mean = (fwd + rev) / 2
    assert np.abs(df[["ref_Mafk", "ref_Oct4"]].to_numpy() - mean[:3]).max() <= 2e-6
    assert np.abs(df[["alt_Mafk", "alt_Oct4"]].to_numpy() - mean[3:]).max() <= 2e-6


@pytest.fixture(scope="module")
def masked_lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm")
    return {"single_nucleotide": build_bigbird(root / "char", max_tokens=128, head="masked_lm"),
            "nonoverlapping_kmer": build_nt(root / "nt", max_tokens=32, head="masked_lm"),
            "overlapping_kmer": build_dnabert(root / "dnabert", max_tokens=64, head="masked_lm")}


def hand_llr(path, family: str, window: str, offset: int, alt: str) -> float:
    """log p(ALT) - log p(REF) at the variant, from a masked forward written out for each family: BigBird's
    [CLS] + one token per base; NT's <cls> + 6-mers from the start (a tail shorter than 6 as single bases);
    DNABERT's [CLS] + a 6-mer at every base, the 6 holding the base masked and their log-ratios averaged."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    mutant = window[:offset] + alt + window[offset + 1 :]
    if family == "single_nucleotide":
        positions, ref_tokens, alt_tokens = [1 + offset], [window[offset]], [alt]
        ids = tokenizer(window)["input_ids"]
    elif family == "nonoverlapping_kmer":
        full = len(window) // 6 * 6
        if offset < full:
            t, a = offset // 6, offset // 6 * 6
            ref_tokens, alt_tokens = [window[a : a + 6]], [mutant[a : a + 6]]
        else:
            t = full // 6 + offset - full
            ref_tokens, alt_tokens = [window[offset]], [alt]
        positions = [1 + t]
        ids = tokenizer(window)["input_ids"]
    else:
        starts = [s for s in range(offset - 5, offset + 1) if 0 <= s <= len(window) - 6]
        positions = [1 + s for s in starts]
        ref_tokens, alt_tokens = [window[s : s + 6] for s in starts], [mutant[s : s + 6] for s in starts]
        ids = tokenizer(hf_text(family, window))["input_ids"]
    ids = torch.tensor([ids])
    ids[0, positions] = tokenizer.mask_token_id
    with torch.inference_mode():
        log_p = model(input_ids=ids).logits.double().log_softmax(-1)[0]
    ratios = [log_p[p, tokenizer.convert_tokens_to_ids(b)] - log_p[p, tokenizer.convert_tokens_to_ids(a)]
              for p, a, b in zip(positions, ref_tokens, alt_tokens)]
    value = float(sum(ratios))
    return value / len(ratios) if family == "overlapping_kmer" else value


@pytest.mark.parametrize("family", ["single_nucleotide", "nonoverlapping_kmer", "overlapping_kmer"])
def test_llr_equals_a_hand_computed_masked_forward(masked_lms, genome, tmp_path, family):
    seq = phix()
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(5))
    inf = DNAInference(masked_lms[family])
    assert inf.head == "masked_lm"
    df = inf.score_variants(vcf, genome, window=100 if family == "nonoverlapping_kmer" else None)
    assert list(df.columns) == KEYS + ["llr"] and len(df) == 7
    expected = [hand_llr(masked_lms[family], family, seq[a:b], p - 1 - a, x)
                for a, b, p, x in zip(df["window_start"], df["window_end"], df["pos"], df["alt"])]
    assert np.abs(df["llr"].to_numpy() - expected).max() <= 1e-4
    assert np.abs(df["llr"]).max() > 1e-2


def test_masked_lm_leaves_indels_out_with_the_reason(masked_lms, genome, tmp_path):
    seq = phix()
    snv = ("phix", 200, ".", seq[199], "G" if seq[199] != "G" else "C")
    vcf = write_vcf(tmp_path / "calls.vcf", [("phix", 100, ".", seq[99:101], seq[99]), snv])
    inf = DNAInference(masked_lms["single_nucleotide"])
    skipped = []
    df = inf.score_variants(vcf, genome, on_skip=skipped.append)
    assert len(df) == 1 and df["pos"].tolist() == [200]
    assert len(skipped) == 1 and "indel is not scored" in skipped[0].reason


# -- what goes wrong in real VCFs -----------------------------------------------------------------------------

BAD_ROWS = [  # (VCF line after the header, the reason a user reads)
    ("phix\t100\tmismatch\t{wrong}\tG", "does not match the genome, which has"),
    ("chrphix\t100\tchr\t{ref}\tG", "which has 'phix'; add --chrom-alias chr"),
    ("nochrom\t100\tcontig\tA\tG", "contig 'nochrom' is not in the genome (1 contig: 'phix')"),
    ("phix\t6000\tbeyond\tA\tG", "beyond the end of contig 'phix' (5,386 bp)"),
    ("phix\t100\tsymbolic\t{ref}\t<DEL>", "symbolic ALT '<DEL>'"),
    ("phix\t100\tstar\t{ref}\t*", "symbolic ALT '*'"),
    ("phix\t100\tbreakend\t{ref}\t{ref}]phix:300]", "symbolic ALT"),
    ("phix\t100\tsame\t{ref}\t{ref}", "ALT equals REF"),
    ("phix\t100\tmissing\t{ref}\t.", "no ALT allele"),
    ("phix\tabc\tpos\tA\tG", "POS 'abc' is not a position (a whole number from 1)"),
    ("phix\t-5\tnegative\tA\tG", "POS '-5' is not a position"),
    ("phix\t4294967397\twraps\tA\tG", "POS 4294967397 is beyond the largest position"),
    ("phix\t100", "2 tab-separated fields"),
    ("", "a blank line among the records"),
    ("##late=header", "a header line after the #CHROM line"),
    ("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO", "a header line after the #CHROM line"),
    ("phix\t100\tshort", "3 tab-separated fields; a VCF record has at least 8"),
]


def test_bad_records_are_listed_with_their_reason_and_the_run_goes_on(model_dirs, genome, tmp_path):
    seq = phix()
    good = snvs(2, ends=False)
    lines = [line.format(ref=seq[99], wrong="T" if seq[99] != "T" else "A") for line, _ in BAD_ROWS]
    text = HEADER + f"phix\t{good[0][1]}\tgood0\t{good[0][3]}\t{good[0][4]}\t.\t.\t.\n"
    for line in lines:
        text += line + ("\t.\t.\t.\n" if line.count("\t") >= 4 else "\n")
    text += f"phix\t{good[1][1]}\tgood1\t{good[1][3]}\t{good[1][4]}\t.\t.\t.\n"
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(text)
    inf = DNAInference(model_dirs["overlapping_kmer"])
    skipped = []
    df = inf.score_variants(vcf, genome, on_skip=skipped.append)
    assert list(df["id"]) == ["good0", "good1"]
    assert len(skipped) == len(BAD_ROWS)
    for item, (_, reason), line in zip(skipped, BAD_ROWS, range(5, 5 + len(BAD_ROWS))):
        assert reason in item.reason, (item, reason)
        assert item.where == f"{vcf}:{line}"
    assert inf.last_run.skipped == skipped
    with pytest.raises(InputError, match=r"bad.vcf:5 \(phix:100:.>G\): REF '.' does not match"):
        inf.score_variants(vcf, genome, on_error="raise")
    aliased = inf.score_variants(vcf, genome, chrom_alias="chr")
    assert "chr" in set(aliased["id"])


def test_n_in_the_window_above_max_n_is_not_scored(model_dirs, tmp_path):
    seq = phix()
    path = tmp_path / "gapped.fa"
    path.write_text(">phix\n" + seq[:300] + "N" * 40 + seq[340:] + "\n")
    vcf = write_vcf(tmp_path / "calls.vcf", [("phix", 290, "near_gap", seq[289], "A" if seq[289] != "A" else "C"),
                                             ("phix", 2000, "far", seq[1999], "A" if seq[1999] != "A" else "C")])
    inf = DNAInference(model_dirs["single_nucleotide"])
    skipped = []
    df = inf.score_variants(vcf, path, window=200, on_skip=skipped.append)
    assert list(df["id"]) == ["far"]
    assert "is 20% N, more than max_n 10%" in skipped[0].reason
    assert list(inf.score_variants(vcf, path, window=200, max_n=0.25)["id"]) == ["near_gap", "far"]


def test_edge_windows_are_skipped_with_a_reason_not_a_stop(model_dirs, tmp_path):
    seq = phix()
    genome = tmp_path / "two.fa"
    genome.write_text(f">tiny\nACG\n>seven\nACGTACG\n>phix\n{seq}\n")
    rows = [("tiny", 2, "tiny", "C", "T"), ("seven", 2, "del", "CGTAC", "C"), ("seven", 7, "ins", "G", "GAAAAAAAAAA"),
            ("phix", 100, "longref", seq[99:3099], seq[99]),
            ("phix", 200, "ok", seq[199], "A" if seq[199] != "A" else "C")]
    vcf = write_vcf(tmp_path / "edges.vcf", rows)
    inf = DNAInference(model_dirs["overlapping_kmer"])
    skipped = []
    df = inf.score_variants(vcf, genome, on_skip=skipped.append)
    assert list(df["id"]) == ["ok"]
    reasons = [s.reason for s in skipped]
    assert "3 bp" in reasons[0] and "6-mer" in reasons[0]
    assert "the ALT window (3 bp)" in reasons[1]
    assert "near the contig's end no window holds it" in reasons[2]
    assert "REF (3,000 bp) is longer than the 131 bp window" in reasons[3]
    assert len(skipped[3].id) < 60  # the 3 kb REF is shortened in the id
    with pytest.raises(DnallmError, match="at least 6 bp for this model"):
        inf.score_variants(vcf, genome, window=3)


def test_bcf_is_told_by_its_bytes_and_the_genome_index_is_an_input(model_dirs, genome, tmp_path, capsys):
    import cyvcf2

    vcf = write_vcf(tmp_path / "calls.vcf", snvs(3, ends=False))
    bcf = tmp_path / "calls_bcf.vcf"  # a BCF under a .vcf name
    src = cyvcf2.VCF(str(vcf))
    dst = cyvcf2.Writer(str(bcf), src, mode="wb")
    for rec in src:
        dst.write_record(rec)
    dst.close()
    assert bcf.read_bytes()[:2] == b"\x1f\x8b"
    inf = DNAInference(model_dirs["overlapping_kmer"])
    assert list(inf.score_variants(bcf, genome)["id"]) == ["v0", "v1", "v2"]
    inf.score_variants(vcf, genome)  # builds phiX174.fa.fai
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(tmp_path / "e.tsv"),
                             "--skipped", f"{genome}.fai", "-q"], capsys)
    assert code == 2 and "would destroy the input" in err
    nochrom = tmp_path / "nochrom.vcf"
    nochrom.write_text("##fileformat=VCFv4.2\nphix\t100\t.\tA\tG\t.\t.\t.\n")
    code, _, err = run_main(["variants", str(nochrom), "--genome", str(genome), "-q"], capsys)
    assert code == 2 and "cannot parse its header" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    (">seq\nACGT\n", "not a VCF"),
    (HEADER, "a VCF header without variant records"),
])
def test_files_that_are_not_vcfs_give_one_error(model_dirs, genome, tmp_path, capsys, content, message):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(content)
    code, out, err = run_main(["variants", str(vcf), "--genome", str(genome), "-m", str(model_dirs["bpe"]),
                               "-o", str(tmp_path / "out.tsv"), "-q"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.tsv").exists() and not list(tmp_path.glob("out.tsv*"))


def test_genome_problems(model_dirs, tmp_path, caplog, capsys):
    seq = phix()
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(2, ends=False))
    plain_gzip = tmp_path / "phix.fa.gz"
    with gzip.open(plain_gzip, "wt") as fh:
        fh.write(">phix\n" + seq + "\n")
    inf = DNAInference(model_dirs["bpe"])
    with caplog.at_level("WARNING"):
        df = inf.score_variants(vcf, plain_gzip)
    assert len(df) == 2 and "plain gzip" in caplog.text and "bgzip" in caplog.text
    from Bio import bgzf

    bgzipped = tmp_path / "phix.bgz.fa.gz"
    with bgzf.BgzfWriter(str(bgzipped)) as fh:
        fh.write((DATA / "phiX174.fa").read_text())
    caplog.clear()
    with caplog.at_level("WARNING"):
        again = inf.score_variants(vcf, bgzipped)
    assert "building it" in caplog.text and (tmp_path / "phix.bgz.fa.gz.fai").exists()
    assert np.array_equal(again.iloc[:, 7:].to_numpy(), df.iloc[:, 7:].to_numpy())
    code, _, err = run_main(["variants", str(vcf), "--genome", str(tmp_path / "nope.fa"), "-m",
                             str(model_dirs["bpe"]), "-q"], capsys)
    assert code == 2 and "nope.fa: no such genome file" in err


def test_models_without_a_variant_score_are_refused(tmp_path, genome):
    from dnallm.testing import build_nt as build

    path = build(tmp_path / "encoder", head="encoder")
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(1, ends=False))
    with pytest.raises(DnallmError, match="bare encoder: variant effects are scored for classifiers"):
        DNAInference(path).score_variants(vcf, genome)


# -- the command ----------------------------------------------------------------------------------------------


def test_annotated_vcf_reads_back_with_the_table_values(model_dirs, genome, tmp_path, capsys):
    import cyvcf2

    seq = phix()
    rows = [f"phix\t500\tmulti\t{seq[499]}\t{','.join(b for b in 'ACGT' if b != seq[499])}\t.\t.\t.\n",
            f"phix\t700\tstar\t{seq[699]}\t{'A' if seq[699] != 'A' else 'C'},*\t.\t.\t.\n",
            "phix\tabc\tbroken\tA\tG\t.\t.\t.\n",
            f"phix\t900\tmismatch\t{'A' if seq[899] != 'A' else 'C'}\tG\t.\t.\t.\n"]
    vcf = write_vcf(tmp_path / "calls.vcf", rows)
    model = ["-m", str(model_dirs["overlapping_kmer"]), "-q"]
    code, _, _ = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(tmp_path / "e.tsv")] + model,
                          capsys)
    assert code == 0
    table = pd.read_csv(tmp_path / "e.tsv", sep="\t")
    assert list(table["id"]) == ["multi"] * 3 + ["star"]
    skipped = pd.read_csv(tmp_path / "e.tsv.skipped.tsv", sep="\t")
    assert len(skipped) == 3 and skipped["where"].tolist()[1] == f"{vcf}:6"
    code, _, _ = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(tmp_path / "e.vcf.gz")] + model,
                          capsys)
    assert code == 0
    assert (tmp_path / "e.vcf.gz").read_bytes()[12:14] == b"BC"  # bgzip
    reader = cyvcf2.VCF(str(tmp_path / "e.vcf.gz"))
    columns = list(table.columns[7:])
    for column in columns:
        info = reader.get_header_type("DNALLM_" + column)
        assert info["Number"] == "A" and info["Type"] == "Float"
    records = list(reader)
    assert [r.ID for r in records] == ["multi", "star", "mismatch"]  # the unparsable record cannot be written
    for column in columns:
        values = list(records[0].INFO["DNALLM_" + column])
        assert np.array_equal(np.float32(values), np.float32(table[column][:3]))
        star = records[1].INFO["DNALLM_" + column]
        assert np.float32(star[0]) == np.float32(table[column][3]) and star[1] is None  # '.' for '*'
    assert records[2].INFO.get("DNALLM_" + columns[0]) is None


def test_command_refuses_an_output_over_an_input(model_dirs, genome, tmp_path, capsys):
    vcf = write_vcf(tmp_path / "calls.vcf", snvs(1, ends=False))
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(vcf), "-q"], capsys)
    assert code == 2 and "would destroy the input" in err
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "--window", "0"], capsys)
    assert code == 2 and "--window takes a length in bp" in err
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "-m", str(model_dirs["overlapping_kmer"]),
                             "--window", "5000", "-q"], capsys)
    assert code == 2 and "the longest window is 131 bp" in err


def test_regression_scores_every_output_and_bpe_masked_lm_gives_llr_or_the_reason(tmp_path, genome):
    from dnallm.testing import build_bpe_bert

    vcf = write_vcf(tmp_path / "calls.vcf", snvs(20, ends=False))
    regression = DNAInference(build_dnabert(tmp_path / "regression", head="regression"))
    df = regression.score_variants(vcf, genome)
    assert list(df.columns[7:]) == ["ref_value", "alt_value", "delta_value"]
    assert np.allclose(df["delta_value"], df["alt_value"] - df["ref_value"], atol=1e-6)
    bpe = DNAInference(build_bpe_bert(tmp_path / "bpe_mlm", head="masked_lm"))
    skipped = []
    scored = bpe.score_variants(vcf, genome, on_skip=skipped.append)
    assert len(scored) + len(skipped) == 20 and len(scored) >= 10
    assert all("tokenizes with other token boundaries" in s.reason for s in skipped)
    assert np.isfinite(scored["llr"]).all() and np.abs(scored["llr"]).max() > 1e-3


def test_a_run_where_nothing_is_scored_writes_the_header_and_says_so(model_dirs, genome, tmp_path, capsys):
    vcf = write_vcf(tmp_path / "calls.vcf", [("chr9", 10, "x", "A", "G")])
    out = tmp_path / "e.csv"
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(out),
                             "-m", str(model_dirs["overlapping_kmer"])], capsys)
    assert code == 0
    assert out.read_text().splitlines() == [",".join(KEYS + ["ref_Mafk", "ref_Oct4", "alt_Mafk", "alt_Oct4",
                                                             "delta_Mafk", "delta_Oct4", "log_odds_ratio_Oct4"])]
    assert "0 variants scored" in err and "1 not scored, listed in" in err
    code, _, err = run_main(["variants", str(vcf), "--genome", str(genome), "-o", str(out), "--on-error", "raise",
                             "-m", str(model_dirs["overlapping_kmer"]), "-q"], capsys)
    assert code == 2 and "calls.vcf:4 (chr9:10:A>G): contig 'chr9' is not in the genome" in err
    assert len(err.strip().splitlines()) == 1
