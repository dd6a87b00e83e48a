"""``python -m bot.simulator``: run the Max API simulator until Ctrl-C.

Prints the base URL and the two settings that point Atelier at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .config import CANCEL_RULES, ERROR_STYLES, SimulatorConfig
from .directives import parse_size
from .server import Simulator

EPILOG = """\
prompt directives (see bot/simulator/README.md):
  [sim:fail=CONTENT_MODERATION|INVALID_PARAMETERS|INSUFFICIENT_POINTS|null]
  [sim:timeout]  [sim:cancel]  [sim:hold[=PENDING|PROCESSING|SUBMITTED]]
  [sim:seconds=N]  [sim:size=30MB]  [sim:count=N]
  the word "forbidden" is rejected by pre-submit moderation
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator",
        description="A Max API look-alike for trying Atelier without spending credits.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--key", default="sim-key", help="the bearer token clients must send")
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
    parser.add_argument("--log-level", default="INFO")
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
        print(f"Max API simulator listening on {sim.base_url}", flush=True)
        print("Point Atelier at it with:", flush=True)
        print(f"  MAXAPI_BASE_URL={sim.base_url} MAXAPI_KEY={config.api_key}", flush=True)
        if not config.allow_loopback_callbacks:
            print("  (webhooks to loopback are refused: add --allow-loopback-callbacks)")
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, handle_signals=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
