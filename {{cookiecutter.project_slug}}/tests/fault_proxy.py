"""A TCP proxy in front of a real server, to take that server "down" for one test only.

Stopping the shared database server would break every other test running against it;
this proxy listens on a free loopback port of its own and forwards to the real server.
`cut()` is what the service sees when its database goes away: every open connection
reset and new ones refused. `restore()` brings it back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class FaultProxy:
    """Forwards 127.0.0.1:`port` to `upstream_host`:`upstream_port` until told otherwise."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.connections = 0  # accepted since the start, to see the app reconnect

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Accept connections (again) on the proxy's port."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def stop_accepting(self) -> None:
        """Refuse new connections, as a stopped server's closed port does."""
        if self._server is not None:
            # close() shuts the listening socket there and then. Not wait_closed(): since
            # Python 3.12 it also waits for every open connection to end, and those stay
            # open until cut_connections() (or forever, for a test that only stops accepting).
            self._server.close()
            self._server = None

    def cut_connections(self) -> None:
        """Reset every open connection, as a crashed server (or a dropped link) does."""
        for writer in list(self._writers):
            transport = writer.transport
            # RST rather than FIN: the client learns at once, whatever it was waiting for.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            transport.abort()
        self._writers.clear()

    async def cut(self) -> None:
        """The database goes away: new connections refused, open ones reset."""
        await self.stop_accepting()
        self.cut_connections()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server = await asyncio.open_connection(*self.upstream)
        except OSError:
            client.transport.abort()
            return
        if not self.is_up:
            # Cut while this connection was still being dialled: a stopped server resets it.
            client.transport.abort()
            server.transport.abort()
            return
        self.connections += 1
        self._writers.update((client, server))
        pipes = [
            asyncio.create_task(self._pipe(client_reader, server)),
            asyncio.create_task(self._pipe(server_reader, client)),
        ]
        self._pipes.update(pipes)
        for pipe in pipes:
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side ended: end the other, so neither waits on a half-open connection.
            self._writers.discard(writer)
            writer.transport.abort()
