"""The ``lascopf`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit code. Add a module name to
``SUBCOMMAND_MODULES`` to expose a new subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "phase_balance",
    "demo_data",
    "demo",
    "dispatch",
    "feeder_import",
    "phase_impact",
    "stream_consume",
    "stream_consume_mqtt",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def add_solver_option_argument(parser: argparse.ArgumentParser, solvers: str) -> None:
    """``--solver-option NAME=VALUE`` (repeatable), handed to the solver as it is."""
    parser.add_argument(
        "--solver-option", action="append", default=[], metavar="NAME=VALUE", dest="solver_option",
        help=f"a {solvers} option, e.g. limits/nodes=1000 or mip_heuristic_effort=0.2 (repeatable)",
    )


def solver_options(pairs: list[str]) -> dict:
    """``["limits/nodes=10", "presolve=off"]`` -> ``{"limits/nodes": 10, "presolve": "off"}`` (int, float, bool, str)."""
    from lascopf_assets.lib.solver_status import parse_options

    named = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise CliError(f"--solver-option takes NAME=VALUE, got {pair!r}")
        named[name] = text
    return parse_options(named)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lascopf", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"lascopf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
