"""Near-duplicate detection on embeddings: exact within a set, and LSH buckets for pairs across shards."""

from __future__ import annotations

import math

import numpy as np

Candidates = dict[int, list[tuple[int, float]]]
"""Sample j -> the earlier samples i it is similar enough to, with their cosine."""


def keep_first(candidates: Candidates) -> dict[int, tuple[int, float]]:
    """Greedy in sample order: j is a duplicate of its most similar earlier candidate that was itself kept, so the
    first sample of every group is kept. Returns ``{j: (i, cosine)}`` for the dropped ones."""
    dropped: dict[int, tuple[int, float]] = {}
    for j in sorted(candidates):
        live = [(i, c) for i, c in candidates[j] if i not in dropped]
        if live:
            dropped[j] = max(live, key=lambda ic: (ic[1], -ic[0]))
    return dropped


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so dot products are cosines."""
    e = np.asarray(embeddings, dtype=np.float32)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def near_duplicates(embeddings: np.ndarray, threshold: float, block: int = 1024) -> dict[int, tuple[int, float]]:
    """Rows that duplicate an earlier kept row: ``{j: (i, cosine)}`` with i < j kept and cos(e_i, e_j) >= threshold.
    Exact (all pairs, computed in blocks of ``block`` rows: memory O(block x n))."""
    e = unit_rows(embeddings)
    candidates: Candidates = {}
    for start in range(0, len(e), block):
        sims = e[start : start + block] @ e.T
        for r, j in enumerate(range(start, min(start + block, len(e)))):
            hit = np.flatnonzero(sims[r, :j] >= threshold)
            if len(hit):
                candidates[j] = [(int(i), float(sims[r, i])) for i in hit]
    return keep_first(candidates)


def lsh_shape(n: int, threshold: float, recall: float = 0.99, bucket: int = 64) -> tuple[int, int]:
    """(bands, bits per band) for random-hyperplane LSH: about ``bucket`` samples per bucket for n samples, and
    enough bands that a pair at cosine ``threshold`` shares a bucket in some band with probability ``recall``.
    A random hyperplane separates two vectors at angle theta with probability theta / pi (Charikar 2002)."""
    bits = min(24, max(4, math.ceil(math.log2(max(n, 2) / bucket))))
    p_band = (1 - math.acos(min(threshold, 1.0)) / math.pi) ** bits
    if p_band >= 1.0:
        return 1, bits
    bands = math.ceil(math.log(1 - recall) / math.log(1 - p_band))
    return max(1, bands), bits


def lsh_buckets(embeddings: np.ndarray, bands: int, bits: int, seed: int = 0) -> np.ndarray:
    """Bucket id per (sample, band), (n, bands) int64: the band's sign bits of the projections on seeded random
    hyperplanes, plus the band number, so buckets of different bands never mix."""
    e = np.asarray(embeddings, dtype=np.float32)
    planes = np.random.default_rng(seed).standard_normal((e.shape[1], bands * bits)).astype(np.float32)
    signs = (e @ planes > 0).reshape(len(e), bands, bits)
    code = (signs * (1 << np.arange(bits))).sum(-1).astype(np.int64)
    return code + (np.arange(bands, dtype=np.int64) << bits)


SKETCH_BITS = 256
"""Bits of a SimHash sketch (32 bytes): an angle estimate with a standard error of ~0.06 rad near cosine 0.95."""


def simhash(embeddings: np.ndarray, bits: int = SKETCH_BITS, seed: int = 0) -> np.ndarray:
    """(n, bits / 8) uint8: the signs of the projections on ``bits`` seeded random hyperplanes, packed. The share of
    differing bits estimates the angle over pi (Charikar 2002); the planes are drawn apart from the LSH bands'."""
    e = np.asarray(embeddings, dtype=np.float32)
    planes = np.random.default_rng([seed, 7919]).standard_normal((e.shape[1], bits)).astype(np.float32)
    return np.packbits(e @ planes > 0, axis=1)


def sketch_radius(threshold: float, bits: int = SKETCH_BITS, sigmas: float = 4.0) -> int:
    """The largest Hamming distance between two sketches whose vectors may still have cosine >= ``threshold``: the
    expected distance at the threshold's angle plus ``sigmas`` binomial standard deviations (a pair at the
    threshold passes with probability > 0.9999; pairs far below it do not)."""
    p = math.acos(min(max(threshold, -1.0), 1.0)) / math.pi
    return min(bits, math.ceil(bits * p + sigmas * math.sqrt(bits * p * (1 - p))))


def close_sketch_pairs(ids: list, sketches: np.ndarray, radius: int) -> list[tuple]:
    """All pairs (id_a, id_b) in one bucket whose sketches differ in at most ``radius`` bits, id_a < id_b: the
    candidates an exact check confirms or rejects."""
    bits = np.unpackbits(np.asarray(sketches, dtype=np.uint8), axis=1).astype(np.int16)
    dist = bits @ (1 - bits).T + (1 - bits) @ bits.T  # Hamming distances, all pairs
    a, b = np.nonzero(np.triu(dist <= radius, k=1))
    return [(ids[i], ids[j]) if ids[i] < ids[j] else (ids[j], ids[i]) for i, j in zip(a.tolist(), b.tolist(),
                                                                                      strict=True)]


def pairs_in_bucket(ids: list, embeddings: np.ndarray, threshold: float) -> list[tuple]:
    """All pairs (id_a, id_b, cosine) in one bucket with cosine >= threshold, id_a < id_b."""
    e = unit_rows(embeddings)
    sims = e @ e.T
    a, b = np.nonzero(np.triu(sims >= threshold, k=1))
    out = []
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        x, y = (ids[i], ids[j]) if ids[i] < ids[j] else (ids[j], ids[i])
        out.append((x, y, float(sims[i, j])))
    return out
