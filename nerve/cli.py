"""The ``nerve`` command.

``nerve demo`` trains the built-in demo model on the embedded digits data set.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from nerve.demo import run_demo

    result = run_demo(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed,
    )  # fmt: skip
    return 0 if result.test_accuracy > 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nerve", description="nerve deep-learning system")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train an MLP on the embedded 8x8 digits and report test accuracy"
    )
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--learning-rate", type=float, default=0.05)
    demo.add_argument("--seed", type=int, default=1337)
    demo.set_defaults(run=_demo)
    return parser


def _version() -> str:
    from nerve import __version__

    return f"nerve {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nerve`` console script."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
