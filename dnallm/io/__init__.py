"""Reading sequences in and writing results out."""

from dnallm.io.fasta import Record, clean_sequence, count_records, iter_records, read_fasta
from dnallm.io.options import InputOptions

__all__ = ["InputOptions", "Record", "clean_sequence", "count_records", "iter_records", "read_fasta"]
