"""systemd's notify protocol (``Type=notify``): a datagram to ``$NOTIFY_SOCKET``.

Only the two messages the lifecycle needs: ``READY=1`` once running, ``STOPPING=1`` when
the drain starts. Without ``NOTIFY_SOCKET`` (not under systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket

from loguru import logger


def notify(message: str) -> bool:
    """Send ``message``; return whether it was sent. Failure is logged, never raised."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        logger.warning("could not notify systemd ({}): {}", message, exc)
        return False
    return True
