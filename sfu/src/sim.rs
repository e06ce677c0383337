//! A simulated network around an [`Engine`], with str0m client peers, for
//! deterministic tests and benchmarks of the real forwarding path (ICE,
//! DTLS, SRTP included) on simulated time.
//!
//! Clients are ordinary (non-lite) str0m peers in RTP mode that publish
//! audio and/or video and answer the server's offers. Links can lose packets
//! with a seeded generator, so "1 000 packets at 5 % loss" is repeatable.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::core::events::{SfuError, SfuEvent};
use crate::core::ids::{PeerId, RoomId};
use crate::core::Engine;

mod link;
mod media;
pub use link::Link;

/// A received RTP packet, as a client saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The m-line it arrived on.
    pub mid: Mid,
    /// Extended sequence number.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// The payload.
    pub payload: Vec<u8>,
    /// Capture time on the sender's NTP clock, from the latest sender report
    /// (None before the first SR).
    pub capture_ntp: Option<SystemTime>,
    /// It carried a transport-wide sequence number (and so asks for
    /// transport feedback).
    pub transport_cc: bool,
}

/// A client peer.
pub struct Client {
    /// Its id at the server.
    pub id: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// Its state machine.
    pub rtc: Rtc,
    /// When it wants a timeout.
    pub deadline: Instant,
    /// Its published audio m-line.
    pub audio: Option<Mid>,
    /// Its published video m-line.
    pub video: Option<Mid>,
    /// Connected (ICE + DTLS).
    pub connected: bool,
    /// Packets received, in arrival order.
    pub received: Vec<Received>,
    /// A keyframe was requested by the server since the last keyframe sent.
    pub keyframe_wanted: bool,
    /// Keyframe requests received.
    pub keyframe_requests: usize,
    /// Probability (0..1) that a packet *to* this client is lost.
    pub loss_in: f64,
    /// Probability (0..1) that a packet *from* this client is lost.
    pub loss_out: f64,
    pending: Option<SdpPendingOffer>,
    video_seq: u64,
    audio_seq: u64,
    /// The link towards this client (rate, queue, delay), if not perfect.
    pub down_link: Option<Link>,
    /// Datagrams on their way through `down_link`: arrival time, source, bytes.
    inbox: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
    /// Simulcast layers it publishes (rids, lowest first); empty: one stream.
    pub simulcast: Vec<&'static str>,
    /// Its simulcast layers carry temporal layers like libwebrtc's `L1T3`
    /// (TID 0 2 1 2, layer sync on TL1 and on the first TL2 after a TL0).
    pub temporal: bool,
    /// Per simulcast layer: a keyframe was requested.
    pub layer_keyframe_wanted: [bool; 3],
    layer_seq: [u64; 3],
}

/// A tiny deterministic generator (xorshift64*), enough for loss decisions.
#[derive(Debug, Clone)]
pub struct Lossy(u64);

impl Lossy {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    /// True with probability `p`.
    pub fn lose(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The server, its clients and the wire between them.
pub struct Sim {
    /// The engine under test.
    pub engine: Engine,
    /// The server's address (its only candidate).
    pub server: SocketAddr,
    /// Simulated time.
    pub now: Instant,
    /// Clients by index.
    pub clients: Vec<Client>,
    /// Events the engine emitted (other than offers, which the sim answers).
    pub events: Vec<SfuEvent>,
    /// Clients joined from now on negotiate RED (RFC 2198) for Opus and
    /// send their audio RED-wrapped, as Chromium does.
    pub red_audio: bool,
    /// Clients joined from now on also offer H.264 video, after VP8 (as
    /// Chromium does), so that they can send it.
    pub h264_video: bool,
    /// The next this many answers (any client's) change the client's ICE
    /// credentials without the offer restarting ICE, as Firefox's do after
    /// `restartIce()`.
    pub answers_changing_ice: u32,
    /// Clients joined from now on are WHEP viewers: one receive-only audio
    /// and one receive-only video line, joined with `add_viewer`.
    pub viewers: bool,
    by_addr: HashMap<SocketAddr, usize>,
    loss: Lossy,
    start: Instant,
}

impl Sim {
    /// An engine listening on `server` at time `now`.
    pub fn new(mut engine: Engine, server: SocketAddr, now: Instant, seed: u64) -> Self {
        engine.cfg.candidates = vec![server];
        Self {
            engine,
            server,
            now,
            clients: Vec::new(),
            events: Vec::new(),
            red_audio: false,
            h264_video: false,
            answers_changing_ice: 0,
            viewers: false,
            by_addr: HashMap::new(),
            loss: Lossy::new(seed),
            start: now,
        }
    }

    /// Adds a client that publishes the given kinds, and joins it to `room`.
    pub fn join(&mut self, room: RoomId, id: PeerId, audio: bool, video: bool) -> Result<usize, SfuError> {
        self.join_as(room, id, audio, video, true)
    }

    /// As [`Sim::join`], for a peer that may or may not publish (an observer
    /// that offers to send anyway).
    pub fn join_as(
        &mut self,
        room: RoomId,
        id: PeerId,
        audio: bool,
        video: bool,
        may_publish: bool,
    ) -> Result<usize, SfuError> {
        self.join_with(room, id, audio, video, may_publish, false)
    }

    /// A client that publishes audio and its video as simulcast: three
    /// layers, `q`, `h`, `f` (see [`Sim::send_video_layers`]).
    pub fn join_simulcast(&mut self, room: RoomId, id: PeerId) -> Result<usize, SfuError> {
        self.join_with(room, id, true, true, true, true)
    }

    fn join_with(
        &mut self,
        room: RoomId,
        id: PeerId,
        audio: bool,
        video: bool,
        may_publish: bool,
        simulcast: bool,
    ) -> Result<usize, SfuError> {
        let index = self.clients.len();
        let addr = SocketAddr::from(([10, 0, (index / 250) as u8, (index % 250 + 2) as u8], 5000));
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, self.red_audio)
            .enable_vp8(true)
            .enable_h264(self.h264_video)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("valid host candidate"));
        let mut api = rtc.sdp_api();
        if self.viewers {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        let (audio, video) = (audio && !self.viewers, video && !self.viewers);
        let audio = audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let layers = simulcast.then(|| {
            let mut s = str0m::media::Simulcast::new();
            for rid in ["q", "h", "f"] {
                s.add_send_layer(str0m::media::SimulcastLayer::new(rid));
            }
            s
        });
        let video = video.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers));
        if audio.is_none() && video.is_none() && !self.viewers {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().expect("an offer with media");
        let answer = if self.viewers {
            self.engine.add_viewer(self.now, room, id, &offer.to_sdp_string())?
        } else {
            self.engine.add_peer_with(self.now, room, id, &offer.to_sdp_string(), may_publish)?
        };
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        rtc.sdp_api().accept_answer(pending, answer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.clients.push(Client {
            id,
            addr,
            rtc,
            deadline: self.now,
            audio,
            video,
            connected: false,
            received: Vec::new(),
            keyframe_wanted: true,
            keyframe_requests: 0,
            loss_in: 0.0,
            loss_out: 0.0,
            pending: None,
            video_seq: 0,
            audio_seq: 0,
            down_link: None,
            inbox: VecDeque::new(),
            simulcast: if simulcast { vec!["q", "h", "f"] } else { Vec::new() },
            temporal: false,
            layer_keyframe_wanted: [true; 3],
            layer_seq: [0; 3],
        });
        self.by_addr.insert(addr, index);
        self.pump();
        Ok(index)
    }

    /// Moves every queued datagram and event until nothing is left to move.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(t) = self.engine.poll_transmit() {
                moved = true;
                let Some(&i) = self.by_addr.get(&t.destination) else {
                    continue;
                };
                if self.loss.lose(self.clients[i].loss_in) {
                    continue;
                }
                let c = &mut self.clients[i];
                if let Some(link) = c.down_link.as_mut() {
                    // Through the link: queued, maybe dropped, delivered later.
                    if let Some(arrival) = link.enqueue(self.now, t.contents.len(), &mut self.loss) {
                        c.inbox.push_back((arrival, t.source, t.contents.to_vec()));
                    }
                    continue;
                }
                let input = Input::Receive(
                    self.now,
                    Receive {
                        proto: Protocol::Udp,
                        source: t.source,
                        destination: t.destination,
                        contents: (&t.contents[..]).try_into().expect("the engine sends valid datagrams"),
                    },
                );
                let _ = c.rtc.handle_input(input);
                drain_client(c, self.now, &mut self.engine, &mut self.loss, self.server);
                // (As the worker does once a datagram is sent: ADR 0027.)
                self.engine.recycle(t.contents);
            }
            while let Some(e) = self.engine.poll_event() {
                moved = true;
                self.handle_event(e);
            }
            for c in &mut self.clients {
                moved |= drain_client(c, self.now, &mut self.engine, &mut self.loss, self.server);
            }
            if !moved {
                return;
            }
        }
    }

    fn handle_event(&mut self, e: SfuEvent) {
        if let SfuEvent::OfferReady { peer, offer_id, sdp, .. } = &e {
            if let Some(c) = self.clients.iter_mut().find(|c| c.id == *peer) {
                let offer = SdpOffer::from_sdp_string(sdp).expect("the engine offers valid SDP");
                let answer = c.rtc.sdp_api().accept_offer(offer).expect("client accepts the offer");
                let _ = c.pending.take();
                drain_client(c, self.now, &mut self.engine, &mut self.loss, self.server);
                let mut answer = answer.to_sdp_string();
                if self.answers_changing_ice > 0 {
                    self.answers_changing_ice -= 1;
                    answer = answer
                        .lines()
                        .map(|l| match l.split_once(':') {
                            Some(("a=ice-ufrag", _)) => "a=ice-ufrag:simrestart".to_string(),
                            Some(("a=ice-pwd", _)) => "a=ice-pwd:simrestartsimrestartsimrest".to_string(),
                            _ => l.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("\r\n")
                        + "\r\n";
                }
                let result = self.engine.accept_answer(self.now, *peer, *offer_id, &answer);
                assert!(result.is_ok(), "engine refused the client's answer: {result:?}");
            }
        }
        self.events.push(e);
    }

    /// Advances simulated time by `step`, driving every timer that is due.
    pub fn advance(&mut self, step: Duration) {
        self.now += step;
        if self.engine.poll_timeout().is_some_and(|t| t <= self.now) {
            self.engine.handle_timeout(self.now);
        }
        for c in &mut self.clients {
            if c.deadline <= self.now {
                let _ = c.rtc.handle_input(Input::Timeout(self.now));
            }
            while c.inbox.front().is_some_and(|(at, _, _)| *at <= self.now) {
                let (_, source, bytes) = c.inbox.pop_front().expect("checked");
                let Ok(contents) = (&bytes[..]).try_into() else { continue };
                let input = Input::Receive(
                    self.now,
                    Receive { proto: Protocol::Udp, source, destination: c.addr, contents },
                );
                let _ = c.rtc.handle_input(input);
            }
        }
        self.pump();
    }

    /// Runs until every client is connected, or `limit` passes.
    pub fn connect_all(&mut self, limit: Duration) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if self.clients.iter().all(|c| c.connected) {
                return true;
            }
            self.advance(Duration::from_millis(5));
        }
        self.clients.iter().all(|c| c.connected)
    }
}

/// Drains a client's output: datagrams to the engine (through the lossy
/// link), events into the client's record. True if anything moved.
fn drain_client(
    c: &mut Client,
    now: Instant,
    engine: &mut Engine,
    loss: &mut Lossy,
    server: SocketAddr,
) -> bool {
    let mut moved = false;
    loop {
        match c.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                c.deadline = t;
                return moved;
            }
            Ok(Output::Transmit(t)) => {
                moved = true;
                if !loss.lose(c.loss_out) {
                    engine.handle_receive(now, t.source, server, &t.contents);
                }
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => c.connected = true,
                Event::RtpPacket(p) => {
                    let mid = c.rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                    // An SR sent before any media carries no timing (RTP time 0).
                    let sr = p.last_sender_info.filter(|sr| sr.sender_packet_count > 0);
                    let capture_ntp = sr.map(|sr| {
                        // 32-bit wrapping difference, as on the wire.
                        let delta = p.header.timestamp.wrapping_sub(sr.rtp_time.numer() as u32) as i32;
                        let secs = f64::from(delta) / f64::from(p.time.frequency().get());
                        if secs >= 0.0 {
                            sr.ntp_time + Duration::from_secs_f64(secs)
                        } else {
                            sr.ntp_time - Duration::from_secs_f64(-secs)
                        }
                    });
                    if let Some(mid) = mid {
                        c.received.push(Received {
                            mid,
                            seq: *p.seq_no,
                            ts: p.header.timestamp,
                            payload: p.payload.to_vec(),
                            capture_ntp,
                            transport_cc: p.header.ext_vals.transport_cc.is_some(),
                        });
                    }
                }
                Event::KeyframeRequest(r)
                    if r.kind == KeyframeRequestKind::Pli || r.kind == KeyframeRequestKind::Fir =>
                {
                    match r.rid.as_ref().and_then(|rid| c.simulcast.iter().position(|s| **s == **rid)) {
                        Some(layer) => c.layer_keyframe_wanted[layer] = true,
                        None => c.keyframe_wanted = true,
                    }
                    c.keyframe_requests += 1;
                }
                _ => {}
            },
            Err(_) => return moved,
        }
    }
}
