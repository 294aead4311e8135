"""The listening socket: accepted client sockets must not wait on Nagle's algorithm."""

from __future__ import annotations

import socket

from dicompress_notifier.app import listening_socket
from dicompress_notifier.settings import NotifierSettings


def test_accepted_client_sockets_send_small_frames_without_delay() -> None:
    server = listening_socket(NotifierSettings(notifier_host="127.0.0.1", notifier_port=0))
    with server, socket.create_connection(server.getsockname()[:2], timeout=5):
        accepted, _ = server.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
