"""Driver-side bookkeeping: which input shards have all their rows written, and from which parts."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rayedit.rows import EOS


class ShardTracker:
    """Counts the rows coming back from the write stage per shard; a shard is complete once its
    end-of-shard row (carrying the sample count) has arrived and that many sample rows have too."""

    def __init__(self):
        self.seen: dict[str, int] = defaultdict(int)
        self.expected: dict[str, int] = {}
        self.parts: dict[str, set[str]] = defaultdict(set)
        self.status_counts: dict[str, int] = defaultdict(int)
        self._released: set[str] = set()

    def add(self, batch: dict[str, np.ndarray]) -> list[str]:
        """Record a batch of write-stage output; return the shard ids that just became complete."""
        touched = set()
        cols = (batch["shard_id"], batch["status"], batch["shard_rows"], batch["part"])
        for sid, status, rows, part in zip(*cols, strict=True):
            sid = str(sid)
            touched.add(sid)
            if status == EOS:
                self.expected[sid] = int(rows)
                continue
            self.seen[sid] += 1
            self.status_counts[str(status)] += 1
            if part:
                self.parts[sid].add(str(part))
        done = [s for s in sorted(touched) if s not in self._released and self.expected.get(s) == self.seen[s]]
        self._released.update(done)
        return done

    @property
    def completed(self) -> set[str]:
        """Shards handed out for commit."""
        return set(self._released)

    def incomplete(self, shard_ids: list[str]) -> dict[str, str]:
        """Shards that never completed, with what is known of them."""
        out = {}
        for sid in shard_ids:
            if sid not in self._released:
                exp = self.expected.get(sid)
                out[sid] = f"{self.seen[sid]} of {exp if exp is not None else '?'} rows arrived"
        return out
