"""``python -m HematomaExpansionWeb --data DIR --out DIR [--host H] [--port P] [--token T] [--max-upload-mb N]``.

Serves the page on 127.0.0.1 unless ``--host`` names another address; then only with an access
token (random unless ``--token``), printed with the full address at start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from HematomaExpansionLib.common.atomic import require_folder
from HematomaExpansionLib.common.errors import InputError

from .data_files import BYTES_PER_MB, DEFAULT_MAX_UPLOAD_MB, UploadStore
from .security import DEFAULT_HOST, AccessRule, access_token, page_url

EXIT_BAD_INPUT = 2
DEFAULT_PORT = 8080
# Room on top of the upload limit for one websocket message (file name, framing).
MESSAGE_OVERHEAD_BYTES = 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m HematomaExpansionWeb",
        description="The HematomaExpansion module in a web browser (trame-slicer). Research use only.",
    )
    parser.add_argument("--data", required=True, help="folder the page may open files from (read only)")
    parser.add_argument("--out", required=True, help="folder the results are written to (one subfolder each)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--token", default=None, help="access token (default: a random one when --host is not 127.0.0.1)"
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, help="largest upload accepted (MB)"
    )
    return parser


def _folders(args: argparse.Namespace) -> tuple[Path, Path]:
    data_dir = Path(args.data)
    if not data_dir.is_dir():
        raise InputError(f"--data {data_dir} is not a folder; give the folder of the CTs to serve.")
    out_dir = require_folder(Path(args.out))
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.max_upload_mb > 0:
        raise InputError(f"--max-upload-mb must be a positive number, got {args.max_upload_mb}")
    return data_dir.resolve(), out_dir.resolve()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check, start the server (blocking until it stops)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(__package__).setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        data_dir, out_dir = _folders(args)
        token = access_token(args.host, args.token)
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    # One websocket message carries an upload; wslink reads its limit from the environment.
    os.environ["WSLINK_MAX_MSG_SIZE"] = str(int(args.max_upload_mb * BYTES_PER_MB) + MESSAGE_OVERHEAD_BYTES)
    from .app import HematomaExpansionWebApp

    with tempfile.TemporaryDirectory(prefix="hematoma-expansion-web-") as private:
        uploads = UploadStore(Path(private) / "uploads", args.max_upload_mb)
        app = HematomaExpansionWebApp(data_dir, out_dir, uploads, AccessRule(token))

        def announce(**_: object) -> None:
            sys.stdout.write(f"HematomaExpansion web: open {page_url(args.host, app.server.port, token)}\n")
            sys.stdout.flush()

        app.server.controller.on_server_ready.add(announce)
        sys.argv = sys.argv[:1]  # trame parses sys.argv itself; the options are passed explicitly
        try:
            app.server.start(
                host=args.host, port=args.port, open_browser=False, show_connection_info=False, timeout=0
            )
        finally:
            uploads.remove_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
