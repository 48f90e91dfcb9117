"""The ``nerve`` command.

``nerve demo`` trains the Keras-style demo model on the embedded digits data set
(``nerve demo --engine``: the raw-engine version; ``nerve demo --convnet``: a small
convnet on the digits resampled to 28x28). ``nerve`` alone prints the help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nerve.demos import DEFAULT_OUTPUT_DIR

__all__ = ["build_parser", "main"]


def _demo(args: argparse.Namespace) -> int:
    if args.engine:
        if args.output_dir is not None:
            args.parser.error("--output-dir: the engine demo (--engine) writes no files")
        from nerve.demos.engine import run_demo

        engine_result = run_demo(
            epochs=args.epochs or 30, batch_size=args.batch_size or 32,
            learning_rate=args.learning_rate, seed=args.seed,
        )  # fmt: skip
        return 0 if engine_result.test_accuracy > 0 else 1
    from nerve.demos.keras_mlp import run_keras_demo

    convnet = args.convnet
    result = run_keras_demo(
        epochs=args.epochs or (15 if convnet else 100),
        batch_size=args.batch_size or 64, seed=args.seed,
        output_dir=args.output_dir or DEFAULT_OUTPUT_DIR,
        verbose=args.verbose, plot=not args.no_plot,
        model="convnet" if convnet else "mlp",
    )  # fmt: skip
    return 0 if result.test_accuracy > 0 else 1


def _verbosity(value: str):
    return value if value == "auto" else int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nerve", description="nerve deep-learning system")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo", help="train an MLP on the embedded 8x8 digits and report test accuracy"
    )
    demo.add_argument(
        "--engine", action="store_true", help="the raw-engine MLP (GradientTape, hand SGD)"
    )
    demo.add_argument(
        "--convnet",
        action="store_true",
        help="the classic small MNIST convnet, on the digits resampled to 28x28",
    )
    demo.add_argument(
        "--epochs", type=int, default=None, help="100 (30 with --engine, 15 with --convnet)"
    )
    demo.add_argument("--batch-size", type=int, default=None, help="64 (32 with --engine)")
    demo.add_argument("--learning-rate", type=float, default=0.05, help="--engine only")
    demo.add_argument("--seed", type=int, default=1337)
    demo.add_argument(
        "--output-dir",
        default=None,
        help=f"where the saved model and the PNG go (default: ./{DEFAULT_OUTPUT_DIR}/)",
    )
    demo.add_argument("--verbose", default="auto", type=_verbosity)
    demo.add_argument("--no-plot", action="store_true", help="skip the training-curve PNG")
    demo.set_defaults(run=_demo, parser=demo)
    return parser


def _version() -> str:
    from nerve import __version__

    return f"nerve {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nerve`` console script; without a subcommand it prints the
    help and succeeds (asking what the command does is not an error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
