"""`mealimpact serve`: the HTTP API under uvicorn (argparse only at import; uvicorn inside the handler)."""

from __future__ import annotations

import argparse

from mealimpact.cli import CommandGroups


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from serving.main import create_app
    from serving.model_repository import ModelRepositoryError
    from serving.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = create_app(settings)
        # Our own request line replaces uvicorn's access log, which would print paths and query strings.
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None, workers=1)
    except ModelRepositoryError as err:
        print(f"mealimpact serve: cannot start: {err}")
        return 2
    return 0


def register(groups: CommandGroups) -> None:
    parser = groups.root.add_parser("serve", help="serve the HTTP API (FastAPI over ONNX Runtime)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.set_defaults(handler=_serve)
