"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a database outage
as the backend sees it (connections dropped, new ones refused), on demand; or
slow (`delay`: the server's answers arrive that much later)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    def __init__(self, target_port: int, *, down: bool = False, delay: float = 0.0) -> None:
        self.target_port = target_port
        self.down = down
        self.delay = delay
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("proxy did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self.down:
            client.close()
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client.close()
            return
        self._writers |= {client, upstream}
        await asyncio.gather(
            self._pipe(client_reader, upstream), self._pipe(upstream_reader, client, self.delay)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float = 0.0
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        writer.close()
        self._writers.discard(writer)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones, until restore()."""

        def cut_now() -> None:
            self.down = True
            for writer in list(self._writers):
                writer.transport.abort()  # a reset, as when the server goes away
            self._writers.clear()

        self._loop.call_soon_threadsafe(cut_now)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "down", False)

    def stop(self) -> None:
        self.cut()

        async def shutdown() -> None:
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)


class RoundRobinProxy(TcpProxy):
    """A per-connection load balancer (like a Kubernetes Service or an L4 proxy):
    each new connection goes to the next of `target_ports`."""

    def __init__(self, target_ports: list[int]) -> None:
        super().__init__(target_ports[0])
        self.target_ports = target_ports
        self.connections = 0

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.target_port = self.target_ports[self.connections % len(self.target_ports)]
        self.connections += 1
        await super()._handle(client_reader, client)
