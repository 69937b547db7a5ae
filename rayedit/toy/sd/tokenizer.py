"""toy-sd's tokenizer: transformers' ``CLIPTokenizer`` on CLIP's own BPE, pruned to the toy world's words.

CLIP's byte-level BPE (the vocabulary open_clip ships) has 49,408 tokens; a token table that size would be most of
toy-sd's weights. We keep the 256 byte symbols (with and without the end-of-word mark), the two special tokens, and
only the merges CLIP's BPE applies to the toy words, in CLIP's order. BPE merges the lowest-ranked pair present at
each step, so a word whose merges are all kept is split exactly as CLIP splits it; any other text still tokenizes
(into byte pieces, or ``<|endoftext|>`` for pieces outside the table), so no prompt is refused.
"""

from __future__ import annotations

import gzip

from open_clip.tokenizer import bytes_to_unicode, default_bpe

from rayedit.toy.generator import COLOURS, SHAPES
from rayedit.toy.scenes import BACKGROUND_KINDS

FUNCTION_WORDS = ("a", "an", "the", "and", "on", "of", "in", "with", ",", "background", "object", "photo")
MAX_LENGTH = 32
"""Tokens per prompt, start and end tokens included (a three-object caption needs 18)."""
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def toy_words() -> list[str]:
    """The words the toy world's captions use (background kinds split like CLIP's pre-tokenizer: two - tone)."""
    words = [*FUNCTION_WORDS, *COLOURS, *SHAPES]
    for kind in BACKGROUND_KINDS:
        words += kind.replace("-", " - ").split()
    return sorted(set(words))


def _clip_merges() -> list[tuple[str, str]]:
    """CLIP's BPE merges in rank order (as open_clip reads them)."""
    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    return [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]


def merges_used(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """The merges CLIP's BPE applies to ``word`` (byte-encoded), in the order it applies them."""
    byte = bytes_to_unicode()
    symbols = [byte[b] for b in word.encode("utf-8")]
    symbols[-1] += "</w>"
    used = []
    while len(symbols) > 1:
        pairs = {(a, b) for a, b in zip(symbols, symbols[1:], strict=False)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        used.append(best)
        merged, i = [], 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return used


def vocabulary(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token -> id, merges) of the pruned BPE: byte symbols, the merges ``words`` need in CLIP's rank order and
    their results, then the start and end tokens."""
    merges = _clip_merges()
    ranks = {m: i for i, m in enumerate(merges)}
    needed = {m for w in words for m in merges_used(w, ranks)}
    kept = [m for m in merges if m in needed]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in kept] + [BOS, EOS]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}, kept


def build_tokenizer():
    """The toy-sd ``CLIPTokenizer`` (pads with the end token to MAX_LENGTH, like SD's)."""
    from transformers import CLIPTokenizer

    vocab, merges = vocabulary(toy_words())
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
