"""Two aiortc participants (an independent WebRTC stack) hold a meeting
through Huiyi, speaking the documented protocol (docs/protocol.md).

Reads HUIYI_WS (ws://host:port/ws) and HUIYI_TOKENS (JSON list of two join
tokens). Exits 0 when every check passed; prints what it saw either way.
"""

import asyncio
import fractions
import json
import os
import sys
import time

import aioice.ice

# aioice leaves loopback out of its host candidates; this test runs on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

import av  # noqa: E402
import websockets  # noqa: E402
from aiortc import (  # noqa: E402
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)


class Pattern(MediaStreamTrack):
    """A small moving video pattern, 15 fps."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self.n = 0
        self.start = time.time()

    async def recv(self):
        self.n += 1
        await asyncio.sleep(max(0, self.start + self.n / 15 - time.time()))
        frame = av.VideoFrame(320, 240, "yuv420p")
        for i, plane in enumerate(frame.planes):
            level = (self.n * 5) % 256 if i == 0 else 128
            plane.update(bytes([level]) * plane.buffer_size)
        frame.pts = self.n * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class Participant:
    def __init__(self, name, url, token):
        self.name, self.url, self.token = name, url, token
        self.events = []
        self.frames = {}  # (publisher participant, kind) -> count
        self.track_owner = {}  # track id -> participant
        self.mid_track = {}  # mid -> track id
        self.pc = None
        self.ws = None
        self.me = None

    def log(self, *args):
        print(f"[{self.name}]", *args, flush=True)

    async def send(self, msg):
        await self.ws.send(json.dumps(msg))

    async def join(self):
        self.ws = await websockets.connect(self.url, max_size=2**20)
        await self.send({"type": "hello", "version": 1, "token": self.token})
        welcome = json.loads(await self.ws.recv())
        assert welcome["type"] == "welcome", welcome
        self.me = welcome["you"]["id"]
        for t in welcome["tracks"]:
            self.track_owner[t["track"]] = t["participant"]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @self.pc.on("track")
        def on_track(track):
            asyncio.ensure_future(self.consume(track))

        self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(Pattern(), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        tracks = [
            {"mid": t.mid, "source": "microphone" if t.kind == "audio" else "camera"}
            for t in self.pc.getTransceivers()
        ]
        await self.send({"type": "publish", "sdp": self.pc.localDescription.sdp, "tracks": tracks})
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        try:
            await self._read()
        except websockets.ConnectionClosed:
            pass

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            self.events.append(msg)
            kind = msg["type"]
            if kind == "answer":
                await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
            elif kind == "offer":
                for t in msg["tracks"]:
                    self.mid_track[t["mid"]] = t["track"]
                await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self.send({"type": "answer", "offer_id": msg["offer_id"], "sdp": self.pc.localDescription.sdp})
            elif kind == "track":
                self.track_owner[msg["track"]] = msg["participant"]
            elif kind == "error":
                self.log("error from server:", msg)

    async def consume(self, track):
        mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        while True:
            try:
                await track.recv()
            except Exception:
                return
            owner = self.track_owner.get(self.mid_track.get(mid), "?")
            key = (owner, track.kind)
            self.frames[key] = self.frames.get(key, 0) + 1


async def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


async def main():
    url = os.environ["HUIYI_WS"]
    tokens = json.loads(os.environ["HUIYI_TOKENS"])
    a = Participant("A", url, tokens[0])
    b = Participant("B", url, tokens[1])
    await a.join()
    await b.join()
    try:
        await wait_for(
            lambda: a.frames.get((b.me, "video"), 0) > 20 and b.frames.get((a.me, "video"), 0) > 20,
            30,
            "each decodes the other's video",
        )
        await wait_for(
            lambda: a.frames.get((b.me, "audio"), 0) > 50 and b.frames.get((a.me, "audio"), 0) > 50,
            10,
            "each receives the other's audio",
        )
        print("video and audio flow both ways:", {k: v for k, v in a.frames.items()}, flush=True)

        # A mutes through the protocol; its aiortc keeps sending audio.
        await a.send({"type": "mute", "audio": True})
        await wait_for(
            lambda: any(e["type"] == "participant_updated" and e["participant"]["audio_muted"] for e in b.events),
            5,
            "B learns that A is muted",
        )
        await asyncio.sleep(0.5)
        before = b.frames.get((a.me, "audio"), 0)
        video_before = b.frames.get((a.me, "video"), 0)
        await asyncio.sleep(2)
        after = b.frames.get((a.me, "audio"), 0)
        assert after - before <= 2, f"B still got {after - before} audio frames of muted A"
        assert b.frames.get((a.me, "video"), 0) > video_before, "A's video continues"
        print("mute enforced: audio frames from A while muted:", after - before, flush=True)

        await a.send({"type": "chat", "text": "主会场：测试"})
        await wait_for(lambda: any(e["type"] == "chat" and e["text"] == "主会场：测试" for e in b.events), 5, "chat")

        await a.send({"type": "leave"})
        await wait_for(
            lambda: any(e["type"] == "participant_left" and e["id"] == a.me for e in b.events), 5, "B sees A leave"
        )
        print("interop: all checks passed", flush=True)
    finally:
        for p in (a, b):
            await p.pc.close()
            await p.ws.close()


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 90))
    except Exception as e:  # a failed check or a timeout
        print("interop FAILED:", repr(e), flush=True)
        sys.exit(1)
