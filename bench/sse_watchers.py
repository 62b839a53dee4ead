#!/usr/bin/env python3
"""Watch one run's live events with N concurrent SSE clients from one process.

    sse_watchers.py HOST:PORT TOKEN RUN_ID N

Each client sends `GET /api/v1/runs/RUN_ID/events` and reads to the end of the stream
(the server ends it after the run's summary). One asyncio process, not N curls: the
watchers' own cost on the 2-core machine should be a client's, not N process starts.
Prints the clients that saw the summary and the events each saw.
"""
import asyncio
import sys


async def watch(host, port, token, run_id):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/v1/runs/{run_id}/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
        f"Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = bytearray()
    while chunk := await reader.read(65536):
        data += chunk
    writer.close()
    return data.count(b"\nevent:"), b"event: summary" in data or b"event:summary" in data


async def main():
    addr, token, run_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    results = await asyncio.gather(*(watch(host, int(port), token, run_id) for _ in range(n)))
    ended = sum(1 for _, summary in results if summary)
    import resource
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{ended}/{n} watchers saw the summary; events each: {sorted({e for e, _ in results})}; "
          f"the watchers' own CPU: {(used.ru_utime + used.ru_stime) * 1000:.0f} ms")


asyncio.run(main())
