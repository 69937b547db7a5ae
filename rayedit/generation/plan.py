"""Which samples a generate job makes: their keys and seeds, the output shards, and the fixed groups of samples
each model call gets (so an image never depends on how many actors ran the job)."""

from __future__ import annotations

from dataclasses import dataclass

from rayedit.diffusion.seeds import sample_seed


@dataclass(frozen=True)
class SampleIndex:
    """Sample ``i`` is image ``i % images_per_prompt`` of prompt ``i // images_per_prompt``."""

    prompts: list[str]
    images_per_prompt: int

    def __len__(self) -> int:
        return len(self.prompts) * self.images_per_prompt

    def key(self, i: int) -> str:
        """The sample's key: 'p<prompt index>-<image index>', zero-padded so keys sort in sample order."""
        p, j = divmod(i, self.images_per_prompt)
        width = max(4, len(str(self.images_per_prompt - 1)))
        return f"p{p:06d}-{j:0{width}d}"

    def prompt_index(self, i: int) -> int:
        """Index of the sample's prompt."""
        return i // self.images_per_prompt


@dataclass(frozen=True)
class OutputShard:
    """Samples ``start`` .. ``stop - 1`` go to output shard ``shard_id``."""

    shard_id: str
    start: int
    stop: int


def output_shards(total: int, per_shard: int, name: str) -> list[OutputShard]:
    """Consecutive runs of ``per_shard`` samples, named NAME-00000, NAME-00001, ..."""
    return [OutputShard(f"{name}-{k:05d}", s, min(s + per_shard, total))
            for k, s in enumerate(range(0, total, per_shard))]


def group_rows(index: SampleIndex, shards: list[OutputShard], group_size: int, seed: int) -> list[dict]:
    """One row per model call: consecutive samples of one shard, with keys, prompts and seeds. The last group of a
    shard carries the shard's sample count in ``shard_rows`` (-1 on the others)."""
    rows = []
    for shard in shards:
        for start in range(shard.start, shard.stop, group_size):
            ids = range(start, min(start + group_size, shard.stop))
            keys = [index.key(i) for i in ids]
            rows.append({
                "shard_id": shard.shard_id,
                "index": [i - shard.start for i in ids],
                "key": keys,
                "caption": [index.prompts[index.prompt_index(i)] for i in ids],
                "prompt_index": [index.prompt_index(i) for i in ids],
                "seed": [sample_seed(seed, k) for k in keys],
                "shard_rows": shard.stop - shard.start if ids.stop == shard.stop else -1,
            })
    return rows
