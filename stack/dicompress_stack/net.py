"""Small network probes used to wait for things to come up, and to pick ports."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether a GET on `url` answers 200 (any error, refusal or other status is False)."""
    return http_status(url, timeout_s) == 200


def http_status(url: str, timeout_s: float = 2.0) -> int | None:
    """The status a GET on `url` answers with, or None if nothing answers over HTTP."""
    try:
        # only our own http://127.0.0.1 URLs reach this
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:  # a status other than 2xx is still an answer
        exc.close()
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None
