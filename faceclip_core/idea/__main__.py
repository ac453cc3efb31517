"""`python -m faceclip_core.idea train --help`: train an ID-EA identity without ComfyUI (see train_cli.py)."""
import argparse
import sys

from ..cli.options import HelpFormatter, run_command, setup_logging
from . import train_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faceclip_core.idea", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cli.add_arguments(commands.add_parser("train", help=train_cli.__doc__.splitlines()[0],
                                                description=train_cli.__doc__, formatter_class=HelpFormatter))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return run_command(lambda: train_cli.run(args))


if __name__ == "__main__":
    sys.exit(main())
