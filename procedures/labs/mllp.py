"""MLLP over TCP with python-hl7's stream classes: the results listener (asyncio)
and a small client (for order messages, `send_hl7` and the tests).

The listener reads one framed block at a time, hands the bytes to
`lab_message_receive` in a worker thread (the ORM is synchronous; each thread
keeps its own database connection) and writes the ACK back on the same
connection, in order. A frame cut off by a closed connection is dropped
unanswered: nothing was stored, so the lab sends it again.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from django.db import close_old_connections, connection
from hl7.mllp import InvalidBlockError, MLLPStreamReader, MLLPStreamWriter, open_hl7_connection
from hl7.mllp.streams import HL7StreamProtocol

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class Receive(Protocol):
    """Takes one message off the wire, returns the ACK's bytes
    (inbound.lab_message_receive)."""

    def __call__(self, *, raw: bytes, peer: str = "") -> bytes: ...


def _handle(receive: Receive, raw: bytes, peer: str) -> bytes:
    close_old_connections()
    try:
        return receive(raw=raw, peer=peer)
    except Exception:
        # A database fault: answer nothing, so the lab keeps the message and retries.
        log.exception("HL7 message not processed")
        connection.close()
        raise


class Listener:
    """An asyncio MLLP server; `serve()` runs until `stop()`."""

    def __init__(
        self,
        host: str,
        port: int,
        workers: int,
        receive: Receive,
        sock: socket.socket | None = None,
    ) -> None:
        # sock: a listening socket shared by several processes (run(processes=N)).
        self.host, self.port, self.workers, self.receive = host, port, workers, receive
        self.sock = sock
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mllp")
        self.server: asyncio.base_events.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.frames = 0

    async def _client(self, reader: MLLPStreamReader, writer: MLLPStreamWriter) -> None:
        peer = "{}:{}".format(*(writer.get_extra_info("peername") or ("?", "?"))[:2])
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        log.warning(
                            "MLLP frame cut off from %s: %d bytes dropped", peer, len(exc.partial)
                        )
                    return
                except InvalidBlockError:
                    log.warning("MLLP data without a start block from %s dropped", peer)
                    continue
                except ValueError:
                    log.warning("MLLP frame over the size limit from %s dropped", peer)
                    return
                self.frames += 1
                try:
                    reply = await loop.run_in_executor(
                        self.executor, _handle, self.receive, block, peer
                    )
                except Exception:
                    return  # closing unanswered: the sender retries
                writer.writeblock(reply)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def serve(self) -> None:
        self.loop = asyncio.get_running_loop()

        def factory() -> HL7StreamProtocol:
            # python-hl7's protocol, with the byte-level reader: we decode ourselves,
            # in the character set the message names (MSH-18).
            reader = MLLPStreamReader(limit=MAX_MESSAGE_BYTES)
            return HL7StreamProtocol(reader, self._client)

        if self.sock is not None:
            self.server = await self.loop.create_server(factory, sock=self.sock)
        else:
            self.server = await self.loop.create_server(factory, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        log.info("MLLP listener on %s:%s", self.host, self.port)
        async with self.server:
            with contextlib.suppress(asyncio.CancelledError):
                await self.server.serve_forever()
        self._close_connections()
        self.executor.shutdown(wait=True)

    def _close_connections(self) -> None:
        """Each worker thread closes its own database connection (Django's are
        per thread): one task per thread, held at a barrier until all have one."""
        barrier = threading.Barrier(self.workers, timeout=5)

        def close() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            connection.close()

        for _ in range(self.workers):
            self.executor.submit(close)

    def stop(self) -> None:
        """Stop from another thread (tests, the benchmark)."""

        def _shutdown() -> None:
            if self.server is not None:
                self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()

        if self.loop and self.server:
            self.loop.call_soon_threadsafe(_shutdown)


def run(host: str, port: int, workers: int, receive: Receive, processes: int = 1) -> None:
    """Serve until SIGTERM or SIGINT (the management command).

    With processes > 1 the listening socket is opened once and shared by forked
    processes (as gunicorn does): the kernel hands each new connection to one of
    them, and each answers its connections in order. Python runs one thread at a
    time per process, so this is how the listener uses more than one core.
    """
    sock = socket.create_server((host, port), reuse_port=False, backlog=128)
    sock.setblocking(False)
    connection.close()  # never share a database connection across fork
    children = []
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:
            _serve_in_this_process(host, port, workers, receive, sock)
            os._exit(0)
        children.append(pid)
    try:
        _serve_in_this_process(host, port, workers, receive, sock)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _serve_in_this_process(
    host: str, port: int, workers: int, receive: Receive, sock: socket.socket
) -> None:
    listener = Listener(host, port, workers, receive, sock=sock)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(listener.serve())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


# --- Client --------------------------------------------------------------------------


async def _exchange(host: str, port: int, payloads: list[bytes], timeout: float) -> list[bytes]:
    reader, writer = await asyncio.wait_for(open_hl7_connection(host, port), timeout)
    replies = []
    try:
        for payload in payloads:
            writer.writeblock(payload)
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.readblock(), timeout))
    finally:
        writer.close()
    return replies


def exchange(host: str, port: int, payloads: list[bytes], timeout: float = 10) -> list[bytes]:
    """Send each message over one connection and return each ACK, in order."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_exchange(host, port, payloads, timeout))
    # Called where an event loop already runs in this thread (Playwright's sync API
    # in the browser tests): run ours in a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _exchange(host, port, payloads, timeout)).result()
