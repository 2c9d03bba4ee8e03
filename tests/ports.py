"""A TCP port for a server a test starts itself (the bot's metrics or webhook server).

Asking the kernel for a free port (bind to port 0) and then closing it leaves the port in
the ephemeral range, where any outgoing connection of the test (to the fakes, to
PostgreSQL) may take it before the server binds it: "address already in use", now and
then. A port below that range is never handed out for outgoing connections.
"""

from __future__ import annotations

import random
import socket

_BELOW_EPHEMERAL = (20_000, 32_000)  # Linux hands out 32768-60999 by default


def free_port() -> int:
    for _ in range(100):
        port = random.randrange(*_BELOW_EPHEMERAL)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")
