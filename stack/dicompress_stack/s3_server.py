"""The embedded S3's server process: moto's S3 application, served with HTTP/1.1 keep-alive.

`moto_server` serves every AWS service behind a dispatcher that, for each request, takes a
global lock and lists moto's package directory to guess the service from the Host header, and
its HTTP/1.0 handler closes the connection after every response, so each request also costs a
TCP connect and a new server thread. Profiled under a 399-slice job, that was about a third of
moto's CPU. We only ever speak S3, so we serve moto's S3 app directly and keep connections open.

    python -m dicompress_stack.s3_server -H 127.0.0.1 -p 9000
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

# In the command line of the process, so a recorded pid that was reused is not taken for ours.
MARKER = "dicompress_stack.s3_server"


class KeepAliveHandler(MotoRequestHandler):
    """moto's handler (it keeps S3 metadata keys that contain underscores) over HTTP/1.1,
    without the access log line per request (6% of the server's CPU; errors are still logged)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    run_simple(
        args.host,
        args.port,
        create_backend_app("s3"),
        threaded=True,
        request_handler=KeepAliveHandler,
    )


if __name__ == "__main__":
    main()
