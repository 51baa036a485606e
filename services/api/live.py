"""Live events for WebSocket clients: one JetStream feed per replica, fanned out in memory.

Each api replica reads the events stream through an ephemeral *ordered*
push consumer (delivering only new messages): the server keeps no durable
state for it, and the client library re-creates it from the last stream
sequence it saw whenever it detects a gap or a stall, so a reconnect to
NATS does not silently drop events. Every message is decoded once, turned
into the client JSON once, and published to the Litestar channels of its
workspace and of "all workspaces"; each socket then drains its own
subscriber queue, so a slow client never holds up the others. Whatever
has queued up for a socket goes out together: a text frame holds one or
more events, one JSON object per line, so a burst costs one write.

A client that asks for history gets it from the log, and the seam between
replay and live is closed by subscribing *before* reading the log and
dropping every live event at or below the last position already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.api.schemas import EventView, encode
from shared.wire import decode_wire

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from litestar import WebSocket
    from litestar.channels import ChannelsPlugin
    from litestar.channels.subscriber import Subscriber
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from services.api.filters import TypeFilter
    from shared.eventstore import EventStore
    from shared.settings import Settings

__all__ = ("ALL_WORKSPACES", "LiveFeed", "channel_for", "stream_to_socket")

ALL_WORKSPACES = "events"
"""Channel carrying every workspace's events (for unscoped tokens watching everything)."""

REPLAY_PAGE = 500
FRAME_BYTES = 64 * 1024
"""Frames stay well under the 1 MiB a WebSocket client accepts by default."""
_log = structlog.get_logger("vigil.api.live")


def channel_for(workspace_id: str | None) -> str:
    """The channel of one workspace's events, or of all of them for None."""
    return ALL_WORKSPACES if workspace_id is None else f"events.{workspace_id}"


class _Seam(msgspec.Struct):
    """The two fields a socket needs to place a live event: where it is and what it is."""

    position: int
    type: str


_seam = msgspec.json.Decoder(_Seam)


class LiveFeed:
    """Forwards this replica's view of the events stream to its WebSocket channels."""

    def __init__(self, channels: ChannelsPlugin) -> None:
        self._channels = channels

    async def start(self, js: JetStreamContext, settings: Settings) -> Subscription:
        """Start the ordered consumer on the events stream; unsubscribe it to stop.

        A plain nats-py subscription rather than a FastStream subscriber: every
        message would otherwise pay for a span and metrics on the hot path to
        the sockets (the spans of the consumers that apply events carry the trace).
        """
        return await js.subscribe(
            f"{settings.subject_prefix}.>",
            stream=settings.stream_name,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            cb=self._on_message,
        )

    async def _on_message(self, message: Msg) -> None:
        self.forward(message.data)

    def forward(self, body: bytes) -> None:
        """Publish one relayed event to its workspace's channel and the all-workspaces one."""
        wire = decode_wire(body)
        view = encode(EventView.from_wire(wire))
        try:
            self._channels.publish(view, [channel_for(wire.workspace_id), ALL_WORKSPACES])
        except RuntimeError:
            # The channels plugin starts after the broker and stops before it;
            # in those moments no socket can be listening, so there is no one to tell.
            return


async def stream_to_socket(
    socket: WebSocket[Any, Any, Any],
    subscriber: Subscriber,
    store: EventStore,
    *,
    workspace_id: str | None,
    types: TypeFilter,
    after: int,
) -> None:
    """Send the log after `after`, then live events, until the client goes away.

    `subscriber` must already be subscribed, so nothing committed after the
    replay's last read can be missed. A receive loop runs alongside so that
    keepalive pings are answered and a client's close is noticed at once.
    """
    sender = asyncio.create_task(
        _send_events(socket, subscriber, store, workspace_id, types, after), name="ws-send"
    )
    receiver = asyncio.create_task(_receive_until_closed(socket), name="ws-receive")
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if sender in done and (error := sender.exception()) is not None:
        _log.debug("websocket send ended", error=repr(error))


async def _receive_until_closed(socket: WebSocket[Any, Any, Any]) -> None:
    while (await socket.receive())["type"] != "websocket.disconnect":
        continue  # clients have nothing to say yet; pings are answered by the server


async def _send_events(
    socket: WebSocket[Any, Any, Any],
    subscriber: Subscriber,
    store: EventStore,
    workspace_id: str | None,
    types: TypeFilter,
    after: int,
) -> None:
    last = await _replay(socket, store, workspace_id, types, after)
    queued = subscriber.iter_events()
    async for first in queued:
        burst = [first]
        while subscriber.qsize:  # what arrived meanwhile shares the frames: a write per burst
            burst.append(await anext(queued))
        wanted: list[bytes] = []
        for message in burst:
            event = _seam.decode(message)
            if event.position > last and types.matches(event.type):
                wanted.append(message)
                last = event.position
        for frame in frames(wanted):
            await socket.send_data(frame, mode="text")


def frames(events: Iterable[bytes], limit: int = FRAME_BYTES) -> Iterator[bytes]:
    """Join encoded events into newline-separated frames of at most `limit` bytes.

    One frame per event would cost a write per event and socket; a lone
    event larger than the limit still goes, in a frame of its own.
    """
    frame: list[bytes] = []
    size = 0
    for event in events:
        if frame and size + len(event) > limit:
            yield b"\n".join(frame)
            frame, size = [], 0
        frame.append(event)
        size += len(event) + 1
    if frame:
        yield b"\n".join(frame)


async def _replay(
    socket: WebSocket[Any, Any, Any],
    store: EventStore,
    workspace_id: str | None,
    types: TypeFilter,
    after: int,
) -> int:
    """Send the log after `after` in pages; return the last position covered."""
    names = types.type_names()
    if names == []:
        return after
    while True:
        page = await store.read_all(
            after=after, limit=REPLAY_PAGE, workspace_id=workspace_id, types=names
        )
        for frame in frames(encode(EventView.from_recorded(event)) for event in page):
            await socket.send_data(frame, mode="text")
        if page:
            after = page[-1].position
        if len(page) < REPLAY_PAGE:
            return after
