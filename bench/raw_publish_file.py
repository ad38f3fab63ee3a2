"""The raw baseline of the publish-file part: a plain aiokafka script that publishes a file of JSON lines.

    python -m bench.raw_publish_file FILE TOPIC PRODUCER_CONFIG_JSON [--chunk 500]

What a developer would write without the SDK to put a file of CloudEvents JSON lines on Kafka: read each
line, ``json.loads`` it (the parsing the #15 target names; a raw script needs it at least for the key), and
send **the line's own bytes** as the value with the event's ``subject`` as the key. No validation, no Avro,
no schema registry, no CloudEvents headers: the value stays the JSON the file holds.

Sending: ``send()`` every line of a chunk, then gather the *previous* chunk's acknowledgements, so one chunk
is in flight while the next is sent — the discipline of ``lgsp publish`` itself (one batch in flight while
the next is read); a script that waited for each chunk before sending the next would be a weaker baseline.
Then ``stop()`` (which flushes).

The producer's arguments come from a JSON file the bench part writes from ``bus.aiokafka_adapter``'s
``producer_kwargs(settings)`` (acks=all, idempotence, linger, batch size, lz4): the same settings as the CLI's
Publisher, while this process imports only aiokafka and json, as a raw script would (importing the bus's
settings would add ~0.2 s of start-up that is not the raw script's). Prints ``{"published": N}`` last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer


async def publish(path: Path, topic: str, config: dict[str, Any], chunk: int) -> int:
    """Send every non-blank line of ``path`` to ``topic``; the number of lines Kafka acknowledged."""
    producer = AIOKafkaProducer(**config)
    await producer.start()
    try:
        with path.open("rb") as lines:
            return await send_lines(producer, lines, topic, chunk)
    finally:
        await producer.stop()


class Sender(Protocol):
    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[Any]: ...


async def send_lines(producer: Sender, lines: Iterable[bytes], topic: str, chunk: int) -> int:
    """Send each non-blank line, keyed by its event's ``subject``; after every ``chunk`` lines, wait for the
    previous chunk's acknowledgements (one chunk in flight while the next is sent). The lines acknowledged."""
    published = 0
    in_flight: list[asyncio.Future[Any]] = []
    sending: list[asyncio.Future[Any]] = []
    for line in lines:
        value = line.rstrip(b"\r\n")
        if not value:
            continue
        event = json.loads(value)
        sending.append(await producer.send(topic, value, key=event["subject"].encode()))
        if len(sending) >= chunk:
            published += len(await asyncio.gather(*in_flight))
            in_flight, sending = sending, []
    return published + len(await asyncio.gather(*in_flight, *sending))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.raw_publish_file", description=__doc__.split("\n")[0]
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("topic")
    parser.add_argument("producer_config", type=Path, help="JSON object of AIOKafkaProducer arguments")
    parser.add_argument(
        "--chunk", type=int, default=500, help="lines sent before the previous chunk is awaited"
    )
    args = parser.parse_args(argv)
    config = json.loads(args.producer_config.read_text(encoding="utf-8"))
    published = asyncio.run(publish(args.file, args.topic, config, args.chunk))
    print(json.dumps({"published": published}), file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
