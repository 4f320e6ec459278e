"""Reading sequences in and writing results out."""

from dnallm.io.fasta import Record, clean_sequence, count_records, iter_records, read_fasta

__all__ = ["Record", "clean_sequence", "count_records", "iter_records", "read_fasta"]
