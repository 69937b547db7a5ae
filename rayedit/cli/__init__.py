"""The rayedit command line: choose a job and a spec; everything else lives in the spec (``--set`` overrides).

One module per command group registers its own subcommands: ``jobs`` (run, generate, validate, report, spec, demo),
``train`` (train, select-timesteps, asyrp), ``cluster`` (submit, status, logs, cluster), ``toy`` (toy train,
toy generate).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from rayedit import __version__, events
from rayedit.cli import cluster, jobs, toy, train
from rayedit.cli.common import EXIT_SAMPLES_FAILED

__all__ = ["EXIT_SAMPLES_FAILED", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option documented in --help)."""
    p = argparse.ArgumentParser(prog="rayedit",
                                description="Edit image datasets at scale with diffusion models on Ray.")
    p.add_argument("--version", action="version", version=f"rayedit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (jobs, toy, train, cluster):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rayedit`` command."""
    from rayedit.cluster.stderr_filter import without_spurious_ray_lines

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    with without_spurious_ray_lines():
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; errors become exit codes with the cause on stderr's last line."""
    from rayedit.cluster.jobs import JobsAPIError
    from rayedit.config import SpecError
    from rayedit.models.errors import ModelLoadError

    runs_job = hasattr(args, "log_format")
    if runs_job:
        events.configure(args.log_format, verbose=getattr(args, "no_progress", False))
    try:
        return args.fn(args)
    except (SpecError, ModelLoadError, FileNotFoundError, JobsAPIError) as err:
        if runs_job and args.log_format == "json":
            events.emit("job_failed", logging.ERROR, exit_code=2, error=str(err), error_type=type(err).__name__)
        print(f"rayedit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rayedit: interrupted; rerun the same command to resume (committed shards are kept)", file=sys.stderr)
        return 130
    except Exception as err:
        cause = root_cause(err)
        summary = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[-1]}"
        if runs_job:
            events.emit("job_failed", logging.ERROR, exit_code=1, error=summary, error_type=type(cause).__name__)
        traceback.print_exc()
        print(f"rayedit: error: {summary} (rerun the same command to resume; committed shards are kept)",
              file=sys.stderr)
        return 1


def root_cause(err: BaseException) -> BaseException:
    """The exception that started it: Ray's wrappers (RayTaskError and its ``cause``) and exception chains are
    followed to the innermost error raised by rayedit's or a library's own code."""
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "cause", None) or err.__cause__
        if not isinstance(inner, BaseException):
            break
        err = inner
    return err


if __name__ == "__main__":
    sys.exit(main())
