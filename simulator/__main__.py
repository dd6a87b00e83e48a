"""``python -m simulator``: run the Max API simulator until Ctrl-C.

Prints the base URL and the ``.env`` lines that point Atelier at it, one setting a line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .config import CANCEL_RULES, ERROR_STYLES, SimulatorConfig
from .directives import parse_size
from .server import Simulator

EPILOG = """\
prompt directives (see simulator/README.md):
  [sim:fail=CONTENT_MODERATION|INVALID_PARAMETERS|INSUFFICIENT_POINTS|null]
  [sim:timeout]  [sim:cancel]  [sim:hold[=PENDING|PROCESSING|SUBMITTED]]
  [sim:seconds=N]  [sim:size=30MB]  [sim:count=N]
  the word "forbidden" is rejected by pre-submit moderation
"""


def env_safe(value: str) -> str:
    """An argparse type: a value that a ``.env`` line holds as it is."""
    if not value or any(ch.isspace() or ch in "'\"\\" for ch in value):
        raise argparse.ArgumentTypeError("must be non-empty, without spaces or quotes")
    return value


def build_parser(prog: str = "python -m simulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A Max API look-alike for trying Atelier without spending credits.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--key", type=env_safe, default="sim-key", help="the bearer token clients must send"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="multiplies task durations (0.01 = 100x faster)"
    )
    parser.add_argument("--allow-loopback-callbacks", action="store_true")
    parser.add_argument("--cancel-rule", choices=CANCEL_RULES, default="any-active")
    parser.add_argument("--error-style", choices=ERROR_STYLES, default="http")
    parser.add_argument("--public-url", help="prefix for result file URLs")
    parser.add_argument(
        "--moderation-word",
        action="append",
        dest="moderation_words",
        help="word the moderation layer rejects (repeatable; default: forbidden)",
    )
    parser.add_argument("--image-max-side", type=int, default=512, help="0: nominal size")
    parser.add_argument("--result-bytes", type=parse_size, help="pad result files, e.g. 30MB")
    parser.add_argument("--url-ttl", type=float, default=7 * 86400, help="link lifetime, seconds")
    parser.add_argument("--seed", type=int, help="seed for probabilistic faults")
    parser.add_argument(
        "--log-level", type=str.upper, default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        api_key=args.key,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        speed=args.speed,
        allow_loopback_callbacks=args.allow_loopback_callbacks,
        cancel_rule=args.cancel_rule,
        error_style=args.error_style,
        moderation_words=tuple(args.moderation_words or ("forbidden",)),
        image_max_side=args.image_max_side or None,
        result_bytes=args.result_bytes,
        url_ttl_seconds=args.url_ttl,
        seed=args.seed,
    )


def env_lines(base_url: str, config: SimulatorConfig) -> list[str]:
    """The ``.env`` lines for Atelier: the URL, the key and, at another speed, POLL_SCALE."""
    lines = [f"MAXAPI_BASE_URL={base_url}", f"MAXAPI_KEY={config.api_key}"]
    if config.speed != 1:
        # Atelier accepts 0.001 to 100; polling faster than that gains nothing.
        lines.append(f"POLL_SCALE={min(100.0, max(0.001, config.speed)):g}")
    return lines


async def serve(
    config: SimulatorConfig, stop: asyncio.Event | None = None, *, handle_signals: bool = False
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM, with ``handle_signals``)."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    async with Simulator(config) as sim:
        lines = [f"Max API simulator listening on {sim.base_url}"]
        if not config.allow_loopback_callbacks:
            lines.append("Webhooks to loopback are refused: add --allow-loopback-callbacks.")
        lines.append("Put these lines in .env:")
        lines += env_lines(sim.base_url, config)
        print("\n".join(lines), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m simulator") -> int:
    """Run the simulator until Ctrl-C or SIGTERM; 2 for bad options."""
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option (argparse printed why)
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, handle_signals=True))
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        fix = (
            "pick another --port (0: any free one)"
            if exc.errno == errno.EADDRINUSE
            else "check --host"
        )
        print(f"error: cannot listen on {config.host}:{config.port}: {why}; {fix}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
