"""What the command groups share: loading specs, --set / --log-format / --address options, the job summary and
exit codes."""

from __future__ import annotations

import argparse
import os

SET_HELP = "override a spec field, e.g. --set ddim.steps=20 --set resources.edit.actors=2 (repeatable)"


def load_job_spec(args):
    from rayedit.config import load_spec

    return load_spec(args.spec, args.set)


def load_any_spec(args):
    """A job spec, or a generate spec when the YAML has a ``prompts`` section."""
    from rayedit.config import load_spec, read_spec_file
    from rayedit.config.generate import GenerateSpec

    data = read_spec_file(args.spec)
    kind = GenerateSpec if isinstance(data, dict) and "prompts" in data else None
    return load_spec(args.spec, args.set, kind=kind, data=data)


def print_result(result) -> None:
    """The end-of-job summary: counts per status, throughput, where the output is."""
    c = result.counts
    total = sum(c.values())
    print(f"\nrayedit: {total} samples accounted for: {c['edited']} edited, {c['filtered']} filtered, "
          f"{c['failed']} failed")
    print(f"  shards: {result.shards_committed} committed this run, {result.shards_skipped} already done, "
          f"{result.shards_total} in the job")
    print(f"  this run: {result.samples_this_run} samples in {result.seconds:.1f} s "
          f"({result.images_per_second:.2f} images/s)")
    print(f"  output: {result.output_url}/shards/*.tar and {result.output_url}/manifest.parquet")
    for note in result.notes:
        print(f"  note: {note}")


def ray_up() -> bool:
    """Whether this process is connected to Ray already."""
    from rayedit.cluster.runtime import ray_is_running

    return ray_is_running()


def quiet_ray(was_up: bool) -> None:
    """Stop Ray if this command started (or joined) it, so Ray's log lines cannot follow the summary."""
    if not was_up:
        from rayedit.cluster.runtime import shutdown_ray

        shutdown_ray()


EXIT_SAMPLES_FAILED = 3
"""Exit code of a job that finished but has failed samples (a job that could not finish exits 1; a bad spec 2)."""


def job_exit_code(result) -> int:
    """0 if every sample was edited or filtered, EXIT_SAMPLES_FAILED if some failed."""
    return EXIT_SAMPLES_FAILED if result.counts.get("failed") else 0


def dataclass_overrides(cls, pairs: list[str]) -> dict:
    """``FIELD=VALUE`` strings -> {field: value} typed like ``cls``'s dataclass fields; unknown fields are an error."""
    import dataclasses

    types = {f.name: type(f.default) for f in dataclasses.fields(cls)}
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in types:
            raise SystemExit(f"rayedit: --set {pair!r}: expected FIELD=VALUE with FIELD one of {', '.join(types)}")
        kind = types[name]
        try:
            out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError as e:
            raise SystemExit(f"rayedit: --set {pair!r}: {e}") from None
    return out


def log_options() -> argparse.ArgumentParser:
    """--log-format, shared by every command that runs a job."""
    from rayedit.events import LOG_FORMATS

    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--log-format", choices=LOG_FORMATS, default=os.environ.get("RAYEDIT_LOG_FORMAT", "text"),
                   help="events on stderr: text lines, or one JSON object per line (job_start, shard_committed, "
                        "job_end, job_failed, warning) for schedulers; env RAYEDIT_LOG_FORMAT (default: %(default)s)")
    return p


def spec_command(parent, name: str, help_: str, description: str, fn, kind: str, progress: bool = True):
    """A subcommand that runs one spec on Ray: SPEC, --set, --address, --log-format (and --no-progress)."""
    p = parent.add_parser(name, help=help_, description=description, parents=[log_options()])
    p.add_argument("spec", help=f"spec YAML (fields: `rayedit spec --kind {kind}`)")
    p.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' or ray://HOST:10001); default: start Ray locally on 127.0.0.1")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=fn)
    return p


def block_dumper():
    import yaml

    class BlockDumper(yaml.SafeDumper):
        """Multi-line strings (the embedded job spec) as YAML literal blocks."""

    def text(dumper, value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    BlockDumper.add_representer(str, text)
    return BlockDumper
