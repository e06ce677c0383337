#!/usr/bin/env python3
"""Check that the bench Janus (benches/janus/run.sh) serves the VideoRoom
plugin, and print every Janus API message exchanged: the reference flow a
load generator has to implement.

Run inside the bench namespace:

  ip netns exec huiyi-bench python3 benches/janus/videoroom_check.py
      API level only (stdlib): session, attach, create room, join as publisher.

  ip netns exec huiyi-bench tests/interop/.venv/bin/python \\
      benches/janus/videoroom_check.py --media
      Also publishes VP8+Opus with aiortc (configure + jsep offer -> answer),
      subscribes with a second PeerConnection (join as subscriber -> Janus's
      offer -> start + our answer) and counts the frames that arrive.

Exits 0 when every check passed.
"""

import argparse
import json
import queue
import random
import string
import sys
import threading
import time
import urllib.request

URL = "http://127.0.0.1:8088/janus"
ROOM = 1234


def show(direction, msg):
    """Print a message, with SDP bodies shortened to their interesting lines."""
    m = json.loads(json.dumps(msg))
    jsep = m.get("jsep")
    if jsep and "sdp" in jsep:
        lines = jsep["sdp"].splitlines()
        keep = [
            ln
            for ln in lines
            if ln.startswith(("m=", "c=", "a=candidate", "a=ice-", "a=setup", "a=mid", "a=rtpmap", "a=end-of", "a=fingerprint", "a=group", "a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive"))
        ]
        jsep["sdp"] = f"<{len(lines)} lines; selected:> " + " | ".join(keep)
    print(f"{direction} {json.dumps(m)}", flush=True)


def txn():
    return "".join(random.choices(string.ascii_letters, k=12))


class Janus:
    """Janus API over HTTP: POSTs for requests, one long-poll thread for events."""

    def __init__(self, url=URL):
        self.url = url
        self.events = queue.Queue()
        self.session = None
        self._stop = False

    def _http(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=40) as r:
            return json.loads(r.read())

    def request(self, body, path=""):
        body = dict(body, transaction=txn())
        show(">>", body)
        resp = self._http(path, body)
        show("<<", resp)
        return resp

    def create_session(self):
        r = self.request({"janus": "create"})
        assert r["janus"] == "success", r
        self.session = r["data"]["id"]
        threading.Thread(target=self._poll, daemon=True).start()
        return self.session

    def _poll(self):
        # GET /janus/<session> blocks up to 30 s and returns one event (or a
        # "keepalive"); it also counts as session activity.
        while not self._stop:
            try:
                ev = self._http(f"/{self.session}?maxev=1")
            except Exception as e:  # noqa: BLE001
                if not self._stop:
                    print(f"!! long poll failed: {e}", flush=True)
                return
            if ev.get("janus") != "keepalive":
                show("<~", ev)
                self.events.put(ev)

    def attach(self, plugin="janus.plugin.videoroom"):
        r = self.request({"janus": "attach", "plugin": plugin}, f"/{self.session}")
        assert r["janus"] == "success", r
        return r["data"]["id"]

    def message(self, handle, body, jsep=None):
        msg = {"janus": "message", "body": body}
        if jsep:
            msg["jsep"] = jsep
        return self.request(msg, f"/{self.session}/{handle}")

    def wait_event(self, handle, pred, timeout=20):
        """Next event of `handle` satisfying pred(event); others are printed and dropped."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ev = self.events.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if ev.get("sender") == handle and pred(ev):
                return ev
        raise TimeoutError("no matching event")

    def destroy(self):
        self._stop = True
        if self.session:
            try:
                self.request({"janus": "destroy"}, f"/{self.session}")
            except Exception:  # noqa: BLE001
                pass


def trickle_completed(j, handle):
    """Tell Janus we have no more candidates (all of ours were in the SDP)."""
    r = j.request({"janus": "trickle", "candidate": {"completed": True}}, f"/{j.session}/{handle}")
    assert r["janus"] == "ack", r


def vr(ev):
    return ev.get("plugindata", {}).get("data", {})


def api_level(j):
    j.create_session()
    admin = j.attach()
    # Room creation is synchronous: the reply is "success" with plugindata.
    r = j.message(admin, {"request": "exists", "room": ROOM})
    if r["plugindata"]["data"].get("exists"):
        j.message(admin, {"request": "destroy", "room": ROOM})
    r = j.message(
        admin,
        {
            "request": "create",
            "room": ROOM,
            "description": "huiyi bench",
            "publishers": 200,
            "videocodec": "vp8",
            "audiocodec": "opus",
            "bitrate": 0,
            "fir_freq": 0,
            "notify_joining": False,
            "permanent": False,
        },
    )
    assert r["plugindata"]["data"]["videoroom"] == "created", r
    pub = j.attach()
    # join is asynchronous: the POST answers "ack", the result arrives as an event.
    r = j.message(pub, {"request": "join", "ptype": "publisher", "room": ROOM, "display": "pub-0"})
    assert r["janus"] == "ack", r
    ev = j.wait_event(pub, lambda e: vr(e).get("videoroom") == "joined")
    print(f"OK joined as publisher id={vr(ev)['id']} private_id={vr(ev)['private_id']}", flush=True)
    return pub, vr(ev)["id"]


def as_str0m(sdp):
    """Rewrite an aiortc SDP the way str0m 0.25 writes one: a=ice-options:trickle
    in each m-section, candidates inline, no a=end-of-candidates."""
    out = []
    for ln in sdp.split("\r\n"):
        if ln == "a=end-of-candidates":
            continue
        out.append(ln)
        if ln.startswith("a=ice-pwd:"):
            out.append("a=ice-options:trickle")
    return "\r\n".join(out)


def candidates(sdp):
    return [ln for ln in sdp.splitlines() if ln.startswith("a=candidate")]


def media_level(j, pub, pub_id, seconds, str0m_sdp=False, trickle_done=False):
    import asyncio

    import aioice.ice

    # Clients use 127.0.0.1 (lo) for their host candidates, like the Rust load
    # generator will; aioice would otherwise leave loopback out and pick 127.0.0.2.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

    async def run():
        ok = True
        # --- publisher: configure + full-ICE offer (all candidates in SDP) ---
        ppc = RTCPeerConnection()
        ppc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        ppc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await ppc.setLocalDescription(await ppc.createOffer())  # gathers all candidates
        offer = {"type": "offer", "sdp": ppc.localDescription.sdp}
        if str0m_sdp:
            offer["sdp"] = as_str0m(offer["sdp"])
        print("publisher offer candidates:", candidates(offer["sdp"]), flush=True)
        r = await asyncio.to_thread(j.message, pub, {"request": "configure", "audio": True, "video": True}, offer)
        assert r["janus"] == "ack", r
        if trickle_done:
            await asyncio.to_thread(trickle_completed, j, pub)
        ev = await asyncio.to_thread(j.wait_event, pub, lambda e: "jsep" in e)
        answer = ev["jsep"]
        cands = candidates(answer["sdp"])
        print("janus answer candidates:", cands, flush=True)
        if not cands or not all(" 127.0.0.2 " in c for c in cands):
            print("FAIL janus answer candidates are not all 127.0.0.2", flush=True)
            ok = False
        await ppc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        # The publisher only becomes a subscribable feed once its PeerConnection
        # is up (ICE + DTLS done): joining as subscriber before that fails with
        # error_code 428 "No such feed". Wait for "webrtcup" on its handle.
        await asyncio.to_thread(j.wait_event, pub, lambda e: e.get("janus") == "webrtcup", 15)
        print("OK publisher webrtcup", flush=True)

        # --- subscriber: join with streams -> Janus offers -> start with answer ---
        sub = await asyncio.to_thread(j.attach)
        r = await asyncio.to_thread(
            j.message, sub, {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": pub_id}]}
        )
        ev = await asyncio.to_thread(j.wait_event, sub, lambda e: "jsep" in e)
        soffer = ev["jsep"]
        print("janus subscriber-offer candidates:", candidates(soffer["sdp"]), flush=True)
        spc = RTCPeerConnection()
        frames = {"audio": 0, "video": 0}

        @spc.on("track")
        def on_track(track):
            async def pump():
                while True:
                    try:
                        await track.recv()
                    except Exception:  # noqa: BLE001
                        return
                    frames[track.kind] += 1

            asyncio.ensure_future(pump())

        await spc.setRemoteDescription(RTCSessionDescription(sdp=soffer["sdp"], type=soffer["type"]))
        await spc.setLocalDescription(await spc.createAnswer())
        sanswer = {"type": "answer", "sdp": spc.localDescription.sdp}
        if str0m_sdp:
            sanswer["sdp"] = as_str0m(sanswer["sdp"])
        await asyncio.to_thread(j.message, sub, {"request": "start", "room": ROOM}, sanswer)
        if trickle_done:
            await asyncio.to_thread(trickle_completed, j, sub)
        await asyncio.to_thread(j.wait_event, sub, lambda e: vr(e).get("started") == "ok")
        await asyncio.to_thread(j.wait_event, sub, lambda e: e.get("janus") == "webrtcup", 15)
        print("OK subscriber webrtcup", flush=True)
        await asyncio.sleep(seconds)
        print(f"subscriber received frames over {seconds}s: {frames}", flush=True)
        print(f"publisher ICE={ppc.iceConnectionState} subscriber ICE={spc.iceConnectionState}", flush=True)
        if frames["video"] < 5 or frames["audio"] < 5:
            print("FAIL too few frames at the subscriber", flush=True)
            ok = False
        await spc.close()
        await ppc.close()
        return ok

    return asyncio.run(run())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", action="store_true", help="also publish/subscribe real media with aiortc")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument(
        "--str0m-sdp",
        action="store_true",
        help="send our SDPs shaped like str0m's (a=ice-options:trickle, no a=end-of-candidates)",
    )
    ap.add_argument(
        "--trickle-completed",
        action="store_true",
        help='send {"janus":"trickle","candidate":{"completed":true}} after each SDP',
    )
    ap.add_argument("--url", default=URL)
    a = ap.parse_args()
    j = Janus(a.url)
    ok = True
    try:
        pub, pub_id = api_level(j)
        if a.media:
            ok = media_level(j, pub, pub_id, a.seconds, a.str0m_sdp, a.trickle_completed)
    except (AssertionError, TimeoutError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        ok = False
    finally:
        j.destroy()
    print("PASS" if ok else "FAIL", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
