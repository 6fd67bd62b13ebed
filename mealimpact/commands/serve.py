"""`mealimpact serve` (the HTTP API under uvicorn) and `mealimpact api-key` (a named key for the settings).

Start-up failures (settings, the port, the model repository) print one line, `cannot start: ...`, on
stderr and exit 2; uvicorn is imported inside the handler.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
from typing import TYPE_CHECKING

from mealimpact.commands import CommandGroups

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

STARTUP_FAILURE = 2


def _cannot_start(reason: str) -> int:
    first_line = (reason.strip().splitlines() or ["unknown reason"])[0]
    print(f"cannot start: {first_line[:500]}", file=sys.stderr)
    return STARTUP_FAILURE


def _serve(args: argparse.Namespace) -> int:
    import asyncio  # here, with the serve extra: 0.03 s that `mealimpact --help` need not pay

    import uvicorn
    from pydantic import ValidationError

    from serving.connections import uvicorn_options
    from serving.main import create_app
    from serving.settings import Settings

    try:
        settings = Settings()
    except ValidationError as err:
        # loc and message only: a wrong entry in MEALIMPACT_API_KEYS may be a real key.
        first = err.errors(include_input=False, include_url=False)[0]
        where = "MEALIMPACT_" + "_".join(str(p) for p in first["loc"]).upper()
        return _cannot_start(f"{where}: {first['msg']}")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, args.port))
    except OSError as err:
        return _cannot_start(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        lifespan="off",  # run below, so a start-up failure is ours to report
        # Our own request line replaces uvicorn's access log, which would print paths and query strings.
        access_log=False,
        log_config=None,
        **uvicorn_options(settings),
    )
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:  # uvloop where installed
            return runner.run(_run(app, config, listener))
    except KeyboardInterrupt:
        return 0


async def _run(app: FastAPI, config: uvicorn.Config, listener: socket.socket) -> int:
    import uvicorn

    async with contextlib.AsyncExitStack() as stack:
        try:
            # The models load here, before the port accepts a request.
            await stack.enter_async_context(app.router.lifespan_context(app))
        except Exception as err:  # any start-up failure: one line, not uvicorn's tracebacks
            return _cannot_start(str(err) or type(err).__name__)
        await uvicorn.Server(config).serve(sockets=[listener])
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from serving.auth import new_key_entry

    key, entry = new_key_entry(args.name)
    print(f"key (give to the client, X-API-Key header): {key}")
    print(f"settings entry (add to MEALIMPACT_API_KEYS, comma-separated): {entry}")
    return 0


def register(groups: CommandGroups) -> None:
    parser = groups.root.add_parser("serve", help="serve the HTTP API (FastAPI over ONNX Runtime)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.set_defaults(handler=_serve)
    key = groups.root.add_parser(
        "api-key", help="make a named API key and its hashed MEALIMPACT_API_KEYS entry"
    )
    key.add_argument(
        "name", help="who the key is for (letters, digits, '.', '_', '-'); the audit log shows it"
    )
    key.set_defaults(handler=_api_key)
