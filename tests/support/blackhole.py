"""A TCP listener that accepts connections and never answers: a database server that hangs.

A client connecting to it gets its connection at once and then waits for a reply that
never comes, the way it waits on a server that is overloaded, frozen or behind a broken
network path, until its own timeout. `accepted` tells a test that a client is waiting
there: a condition to wait on, instead of a sleep. The first ``forward`` connections are
passed through to ``target`` instead (a real server), so that a process can get past its
first connections and hang on a later one.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class Blackhole:
    def __init__(self, target: tuple[str, int] | None = None, forward: int = 0) -> None:
        self.target = target
        self.forward = forward if target is not None else 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._accepted = 0
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Blackhole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            held, self._held = self._held, []
        for sock in held:
            sock.close()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    @property
    def accepted(self) -> int:
        """Connections accepted so far, those passed through included."""
        with self._lock:
            return self._accepted

    def url(self, database_url: str) -> str:
        """``database_url`` (postgresql://user@host:port/db) pointed at this listener."""
        scheme, rest = database_url.split("://", 1)
        credentials, _, location = rest.rpartition("@")
        path = location.split("/", 1)[1] if "/" in location else ""
        user = f"{credentials}@" if credentials else ""
        return f"{scheme}://{user}127.0.0.1:{self.port}/{path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    client.close()
                    return
                self._accepted += 1
                passing = self._accepted <= self.forward
                self._held.append(client)
            if passing:
                self._pass_through(client)

    def _pass_through(self, client: socket.socket) -> None:
        assert self.target is not None
        server = socket.create_connection(self.target, timeout=5)
        server.settimeout(None)
        with self._lock:
            self._held.append(server)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
