"""Pipelined JetStream publishes, each with a future for its acknowledgement.

nats-py's own `JetStreamContext.publish_async` loses the server's error answers (its reply
callback raises instead of failing the future), so a message JetStream refused would look like a
missing acknowledgement and cost a full timeout. This does the same job in a few lines and hands
refusals to the caller: every message gets a reply subject under one inbox of ours, and the reply
resolves (or fails) that message's future. At most `max_in_flight` publishes wait for their answer.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from itertools import count

from nats.aio.client import Client
from nats.aio.msg import Msg

NO_RESPONDERS = "503"


@dataclass(frozen=True)
class Ack:
    stream: str
    seq: int
    duplicate: bool


class PublishRefused(Exception):
    """JetStream answered with an error (e.g. err_code 10071: wrong last sequence)."""

    def __init__(self, *, code: int, err_code: int, description: str) -> None:
        super().__init__(f"JetStream refused the message: {description} (code {code}, err_code {err_code})")
        self.code, self.err_code, self.description = code, err_code, description


class NoStream(Exception):
    """Nobody answered on the subject: no JetStream stream listens there (or JetStream is down)."""


class Publisher:
    def __init__(self, client: Client, *, max_in_flight: int) -> None:
        self._client = client
        self._inbox = client.new_inbox()
        self._tokens = count(1)
        self._waiting: dict[str, asyncio.Future] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._subscribed = False

    async def publish(self, subject: str, body: bytes, *, headers: dict[str, str], stall: float) -> asyncio.Future:
        """Send one message; the returned future resolves to its Ack or fails with why it was refused.

        Waits up to `stall` seconds for a free slot when `max_in_flight` messages await answers.
        """
        if not self._subscribed:
            await self._client.subscribe(f"{self._inbox}.*", cb=self._on_reply)
            self._subscribed = True
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=stall)
        except TimeoutError:
            raise TimeoutError(f"no acknowledgement for {len(self._waiting)} messages in flight") from None
        token = str(next(self._tokens))
        future = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        future.add_done_callback(lambda _done, token=token: self._release(token))
        try:
            await self._client.publish(subject, body, reply=f"{self._inbox}.{token}", headers=headers)
        except BaseException:
            future.cancel()
            raise
        return future

    def _release(self, token: str) -> None:
        if self._waiting.pop(token, None) is not None:
            self._slots.release()

    async def _on_reply(self, message: Msg) -> None:
        future = self._waiting.get(message.subject.rsplit(".", 1)[-1])
        if future is None or future.done():
            return  # answered after its sender gave up on it
        if message.headers and message.headers.get("Status") == NO_RESPONDERS:
            future.set_exception(NoStream("no JetStream stream answered (missing stream, or JetStream down)"))
            return
        try:
            answer = json.loads(message.data)
        except ValueError:
            future.set_exception(ValueError(f"unreadable JetStream answer: {message.data[:200]!r}"))
            return
        if "error" in answer:
            error = answer["error"]
            future.set_exception(
                PublishRefused(
                    code=error.get("code", 0),
                    err_code=error.get("err_code", 0),
                    description=error.get("description", ""),
                )
            )
            return
        future.set_result(Ack(stream=answer["stream"], seq=answer["seq"], duplicate=bool(answer.get("duplicate"))))
