"""Compile the motif tools' numba code now, once per installation, instead of on the first ``dnallm motifs``.

    python -m dnallm.precompile          # about 2 minutes on 2 cores: Tomtom (memelite), then TF-MoDISco

memelite (Tomtom) and modisco-lite (TF-MoDISco) compile their kernels with numba on first use and cache the
result beside the installed packages (or under ``NUMBA_CACHE_DIR``); later processes load it in about a second.
Run this after installing, e.g. when building a container image or a cluster environment, so that no job pays
for it. TF-MoDISco is skipped when modisco-lite is not installed (``pip install "dnallm[motifs]"``).
"""

from __future__ import annotations

import sys
import time


def tomtom() -> None:
    from dnallm.jaspar import read_jaspar
    from dnallm.tomtom import tomtom_matches

    database = read_jaspar()
    tomtom_matches(database[:2], database, top=1)


def tfmodisco() -> None:
    import numpy as np

    from dnallm.modisco import tfmodisco_patterns

    rng = np.random.default_rng(0)
    hot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (60, 100))]
    contributions = hot * rng.normal(0, 0.05, (60, 100, 1)).astype(np.float32)
    contributions[:, 40:50] += hot[:, 40:50]  # one strong stretch per sequence, so seqlets pass and cluster
    tfmodisco_patterns(hot, contributions)


def main() -> int:
    import importlib.util

    steps = [("Tomtom (memelite)", tomtom)]
    if importlib.util.find_spec("modiscolite") is not None:
        steps.append(("TF-MoDISco (modisco-lite)", tfmodisco))
    else:
        print('dnallm: TF-MoDISco not installed (pip install "dnallm[motifs]"); skipped', file=sys.stderr)
    for name, step in steps:
        start = time.perf_counter()
        print(f"dnallm: compiling {name} ...", file=sys.stderr, flush=True)
        step()
        print(f"dnallm: {name} ready in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
