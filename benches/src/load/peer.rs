//! One simulated endpoint: a real WebRTC peer (str0m: ICE, DTLS, SRTP) on
//! its own UDP socket, or on one ICE-TCP connection to the server
//! ([`super::tcp`]), sending synthetic media and measuring what arrives.
//!
//! Video is VP8-shaped, one stream or three simulcast layers
//! ([`super::video`]), split into packets of at most [`MTU_PAYLOAD`] bytes.
//! Audio is one 20 ms packet of Opus size. The last 8 bytes of every payload
//! are the send time (µs since the Unix epoch), so receivers on this machine
//! measure the end-to-end latency through the server.
//!
//! A peer behind a weak line ([`super::link`]) passes every datagram it
//! receives and sends through that line, in user space.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

use super::delivery::{self, Delivery};
pub use super::handle::PeerHandle;
use super::link::{Link, LinkSpec};
use super::stats::Totals;
use super::tcp::{TcpPath, Transport};
use super::video::{VideoReceived, VideoSender};

/// Largest RTP payload written.
pub const MTU_PAYLOAD: usize = 1100;

/// Latency samples kept per peer (4 bytes each): a long run keeps its first
/// ones rather than growing without bound.
const MAX_SAMPLES: usize = 1 << 20;

/// What a peer sends.
#[derive(Debug, Clone, Copy)]
pub struct Media {
    /// Send 20 ms audio packets.
    pub audio: bool,
    /// Send video at this bitrate (bit/s) and frame rate; 0 = no video.
    pub video_bps: u32,
    /// Frames per second.
    pub fps: u32,
    /// Send the video as three simulcast layers (q, h, f).
    pub simulcast: bool,
    /// Its audio is speech (RFC 6464 level -30 dBov); else an open
    /// microphone in a quiet room (-127 dBov), which a server with audio
    /// top-N need not forward, so it is not counted as offered.
    pub talking: bool,
    /// Pace each video frame's packets as a browser does (2.5× the
    /// bitrate) instead of sending the frame as one burst.
    pub paced: bool,
}

/// Per received stream: sequence numbers seen, for loss.
#[derive(Debug, Default)]
struct RxStream {
    first: Option<u64>,
    highest: u64,
    count: u64,
    late: u64,
}

/// A peer connection with its socket.
pub struct Peer {
    pub(crate) rtc: Rtc,
    pub(crate) socket: UdpSocket,
    local: SocketAddr,
    media: Media,
    audio: Option<Mid>,
    video: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    camera: VideoSender,
    audio_seq: u64,
    next_frame: Instant,
    next_audio: Instant,
    start: Instant,
    rx: HashMap<Ssrc, RxStream>,
    video_rx: VideoReceived,
    /// The weak line, each way: to this peer, from this peer.
    link: Option<(Link, Link)>,
    transport: Transport,
    /// The ICE-TCP connection, once the server's SDP has named its candidate.
    tcp: Option<TcpPath>,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Time from `started` to connected.
    pub join_time: Option<Duration>,
    started: Instant,
    /// One-way latency samples (µs).
    pub latency_us: Vec<u32>,
    totals: Arc<Totals>,
    buf: Vec<u8>,
    /// Space for the receive time the kernel attaches to a datagram.
    cmsg: Vec<u8>,
    /// When the kernel received the datagram being handled (µs since the
    /// Unix epoch), if it came straight from the socket: latency is
    /// measured to it, so the generator's own backlog is not counted as
    /// the server's.
    arrival_us: Option<u64>,
    /// The tags of the streams it sends, and delivered against offered.
    audio_tag: u32,
    video_tag: u32,
    delivery: Delivery,
}

/// The send time (µs since the Unix epoch).
pub(crate) fn wallclock_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl Peer {
    /// A peer on a new socket bound to `bind` (port 0), behind `link` if
    /// given. Over TCP its only candidate is the connection's, made when the
    /// server's SDP arrives ([`Peer::connect_tcp`]); the UDP socket stays
    /// unused (its address names the peer in the counters).
    pub async fn new(
        bind: std::net::IpAddr,
        media: Media,
        link: Option<LinkSpec>,
        transport: Transport,
        totals: Arc<Totals>,
        started: Instant,
    ) -> Result<Peer> {
        if transport == Transport::Tcp && link.is_some() {
            bail!("a weak line over ICE-TCP is not simulated");
        }
        let socket = UdpSocket::bind(SocketAddr::new(bind, 0)).await.context("bind a UDP socket")?;
        let local = socket.local_addr()?;
        super::stamp::enable(&socket).context("turn on receive timestamps")?;
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        if transport == Transport::Udp {
            rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| anyhow!("candidate: {e}"))?);
        }
        // Each peer's losses are its own, and repeatable for a given port.
        let seed = u64::from(local.port()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let link = link.map(|spec| (Link::new(spec, seed), Link::new(spec, seed ^ 0x5555)));
        Ok(Peer {
            rtc,
            socket,
            local,
            media,
            audio: None,
            video: None,
            pending: None,
            camera: VideoSender::new(media.video_bps, media.simulcast, media.paced),
            audio_seq: 0,
            next_frame: now,
            next_audio: now,
            start: now,
            rx: HashMap::new(),
            video_rx: VideoReceived::default(),
            link,
            transport,
            tcp: None,
            connected: false,
            join_time: None,
            started,
            latency_us: Vec::new(),
            totals,
            buf: vec![0; 2048],
            cmsg: super::stamp::space(),
            arrival_us: None,
            audio_tag: delivery::new_tag(false),
            video_tag: delivery::new_tag(true),
            delivery: Delivery::default(),
        })
    }

    /// An offer for what this peer sends (sendonly m-lines), or a receive-only
    /// audio m-line if it sends nothing. Returns the SDP and `(mid, video)`.
    pub fn offer(&mut self) -> Result<Offer> {
        let mut api = self.rtc.sdp_api();
        let mut tracks = Vec::new();
        if self.media.audio {
            let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            self.audio = Some(mid);
            tracks.push((mid.to_string(), false));
        }
        if self.media.video_bps > 0 {
            let layers = self.camera.simulcast();
            let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers);
            self.video = Some(mid);
            tracks.push((mid.to_string(), true));
        }
        if tracks.is_empty() {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().ok_or_else(|| anyhow!("nothing to offer"))?;
        self.pending = Some(pending);
        Ok((offer.to_sdp_string(), tracks))
    }

    /// Applies the answer to [`Peer::offer`].
    pub fn accept_answer(&mut self, sdp: &str) -> Result<()> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| anyhow!("bad answer: {e}"))?;
        let pending = self.pending.take().ok_or_else(|| anyhow!("no offer pending"))?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| anyhow!("answer refused: {e}"))
    }

    /// Answers a remote offer.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| anyhow!("bad offer: {e}"))?;
        let answer = self.rtc.sdp_api().accept_offer(offer).map_err(|e| anyhow!("offer refused: {e}"))?;
        Ok(answer.to_sdp_string())
    }

    /// Over TCP: connects to the passive candidate in the server's `sdp`
    /// and adds the connection's active candidate, unless connected already.
    pub async fn connect_tcp(&mut self, sdp: &str) -> Result<()> {
        if self.transport != Transport::Tcp || self.tcp.is_some() {
            return Ok(());
        }
        let remote = super::tcp::passive_candidate(sdp)
            .ok_or_else(|| anyhow!("the server's SDP has no passive TCP candidate"))?;
        let path = TcpPath::connect(remote).await?;
        let candidate = Candidate::builder()
            .tcp()
            .host(path.local)
            .tcptype(TcpType::Active)
            .build()
            .map_err(|e| anyhow!("candidate: {e}"))?;
        self.rtc.add_local_candidate(candidate);
        self.tcp = Some(path);
        Ok(())
    }

    /// Waits for a datagram or until `deadline`; handles it; sends what is due.
    pub async fn step(&mut self, deadline: Instant) -> Result<()> {
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::select! {
            r = self.socket.readable() => {
                r?;
                match super::stamp::recv(&self.socket, &mut self.buf, &mut self.cmsg) {
                    Ok((n, from, at)) => {
                        self.arrival_us = at;
                        self.input_datagram(n, from)?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
            r = super::tcp::ready(self.tcp.as_ref()) => self.input_tcp(r?)?,
            () = sleep => {}
        }
        self.tick()
    }

    /// Moves what the ICE-TCP connection has: the backlog out, and each
    /// frame in, draining str0m's output after each (its contract).
    fn input_tcp(&mut self, ready: tokio::io::Ready) -> Result<()> {
        let Some(path) = self.tcp.as_mut() else { return Ok(()) };
        self.arrival_us = None;
        let (local, remote) = (path.local, path.remote);
        let mut gone = path.io(ready).err();
        while gone.is_none() {
            let Some(path) = self.tcp.as_mut() else { break };
            let n = match path.inbox.pop(&mut self.buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(_) => {
                    gone = Some(anyhow!("a bad ICE-TCP frame from the server"));
                    break;
                }
            };
            let Ok(contents) = self.buf[..n].try_into() else { continue };
            receive(&mut self.rtc, Protocol::Tcp, local, remote, contents)?;
            self.drain()?;
        }
        if let Some(e) = gone {
            // str0m notices the silence and disconnects; the run reports it.
            self.tcp = None;
            eprintln!("peer {local}: {e:#}");
        }
        Ok(())
    }

    fn input_datagram(&mut self, n: usize, from: SocketAddr) -> Result<()> {
        if let Some((down, _)) = self.link.as_mut() {
            // Onto the line; it arrives in a later tick, if at all.
            down.push(Instant::now(), from, &self.buf[..n]);
            return Ok(());
        }
        let Ok(contents) = self.buf[..n].try_into() else { return Ok(()) };
        receive(&mut self.rtc, Protocol::Udp, self.local, from, contents)
    }

    /// Moves what the line has carried: datagrams that reached this peer
    /// into its state machine, and its own datagrams onto the socket.
    fn carry(&mut self, now: Instant) -> Result<()> {
        let Some((down, up)) = self.link.as_mut() else { return Ok(()) };
        self.arrival_us = None; // the line's arrival: now
        while let Some((from, bytes)) = down.pop_arrived(now) {
            let Ok(contents) = bytes.as_slice().try_into() else { continue };
            receive(&mut self.rtc, Protocol::Udp, self.local, from, contents)?;
        }
        while let Some((to, bytes)) = up.pop_arrived(now) {
            if self.socket.try_send_to(&bytes, to).is_ok() {
                self.totals.add_sent(bytes.len());
            }
        }
        Ok(())
    }

    /// Sends due media and drains output. Returns when nothing is left.
    pub fn tick(&mut self) -> Result<()> {
        let now = Instant::now();
        self.carry(now)?;
        if self.connected {
            self.send_due(now);
        }
        self.rtc.handle_input(Input::Timeout(now)).map_err(|e| anyhow!("timeout: {e}"))?;
        let drained = self.drain();
        self.arrival_us = None;
        drained
    }

    /// The next instant this peer needs attention.
    pub fn deadline(&mut self) -> Instant {
        let mut next = Instant::now() + Duration::from_millis(100);
        if self.connected {
            if self.audio.is_some() {
                next = next.min(self.next_audio);
            }
            if self.video.is_some() {
                next = next.min(self.next_frame);
                next = self.camera.next_release().map_or(next, |t| next.min(t));
            }
        }
        if let Some((down, up)) = &self.link {
            next = [down.next_arrival(), up.next_arrival()].into_iter().flatten().fold(next, Instant::min);
        }
        next
    }

    fn drain(&mut self) -> Result<()> {
        loop {
            match self.rtc.poll_output().map_err(|e| anyhow!("output: {e}"))? {
                Output::Timeout(_) => return Ok(()),
                Output::Transmit(t) if t.proto == Protocol::Tcp => {
                    let Some(path) = self.tcp.as_mut().filter(|p| p.remote == t.destination) else {
                        continue;
                    };
                    if path.send(&t.contents).unwrap_or(false) {
                        self.totals.add_sent(t.contents.len());
                    }
                }
                Output::Transmit(t) => {
                    if let Some((_, up)) = self.link.as_mut() {
                        up.push(Instant::now(), t.destination, &t.contents);
                        continue;
                    }
                    // A full socket buffer drops the datagram, as a network would.
                    if self.socket.try_send_to(&t.contents, t.destination).is_ok() {
                        self.totals.add_sent(t.contents.len());
                    }
                }
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.join_time = Some(self.started.elapsed());
                self.totals.joined();
                // Media starts now, not with a backlog since the peer was made.
                let now = Instant::now();
                (self.next_audio, self.next_frame) = (now, now);
            }
            Event::RtpPacket(p) => {
                let arrived = self.arrival_us.unwrap_or_else(wallclock_us);
                self.totals.add_received(p.payload.len());
                if let Some((tag, sent)) = delivery::read(&p.payload) {
                    self.delivery.arrived(tag, sent, self.totals.window());
                }
                if !self.totals.measuring() {
                    return;
                }
                if p.payload.len() >= 8 && self.latency_us.len() < MAX_SAMPLES {
                    let tail: [u8; 8] = p.payload[p.payload.len() - 8..].try_into().unwrap_or([0; 8]);
                    let sent = u64::from_be_bytes(tail);
                    if sent > 0 && arrived >= sent && arrived - sent < 60_000_000 {
                        self.latency_us.push((arrived - sent) as u32);
                    }
                }
                let video = self.rtc.codec_config().find(|c| c.pt() == p.header.payload_type);
                if video.is_some_and(|c| c.spec().codec == Codec::Vp8) {
                    self.video_rx.add(&p.payload);
                }
                let seq = *p.seq_no;
                let s = self.rx.entry(p.header.ssrc).or_default();
                s.first = Some(s.first.map_or(seq, |f| f.min(seq)));
                if seq < s.highest {
                    s.late += 1;
                }
                s.highest = s.highest.max(seq);
                s.count += 1;
            }
            Event::KeyframeRequest(r)
                if matches!(r.kind, KeyframeRequestKind::Pli | KeyframeRequestKind::Fir) =>
            {
                self.camera.keyframe_requested(r.rid.as_deref());
                self.totals.keyframe_request();
            }
            Event::MediaIngressStats(s) => self.totals.set_nacks_sent(self.local, s.mid, s.nacks),
            Event::MediaEgressStats(s) => self.totals.set_nacks_received(self.local, s.mid, s.nacks),
            _ => {}
        }
    }

    fn send_due(&mut self, now: Instant) {
        // After a stall of the load generator's thread, skip what is overdue
        // by more than one interval rather than sending it in a burst.
        let behind = |next: Instant, step: Duration| if now > next + step { now } else { next };
        self.next_audio = behind(self.next_audio, Duration::from_millis(20));
        self.next_frame = behind(self.next_frame, Duration::from_secs(1) / self.media.fps.max(1));
        if let Some(mid) = self.audio {
            while self.next_audio <= now {
                self.audio_seq += 1;
                let mut payload = vec![0x11; 80];
                let sent = wallclock_us();
                payload[72..].copy_from_slice(&sent.to_be_bytes());
                let talking = self.media.talking;
                if talking {
                    delivery::stamp(&mut payload, self.audio_tag);
                    if delivery::in_window(sent, self.totals.window()) {
                        self.delivery.sent(self.audio_tag, 1);
                    }
                }
                let ts = media_ts(self.start, self.next_audio, 48);
                let ext = ExtensionValues {
                    audio_level: Some(if talking { -30 } else { -127 }),
                    voice_activity: Some(talking),
                    ..Default::default()
                };
                write(&mut self.rtc, mid, Codec::Opus, self.audio_seq, ts, now, payload, false, ext);
                self.next_audio += Duration::from_millis(20);
            }
        }
        if let Some(mid) = self.video {
            let fps = self.media.fps.max(1);
            while self.next_frame <= now {
                let ts = media_ts(self.start, self.next_frame, 90);
                self.camera.send_frame(&self.rtc, ts, fps, self.video_tag);
                self.next_frame += Duration::from_secs(1) / fps;
            }
            let released = self.camera.release(&mut self.rtc, mid, now, self.totals.window());
            if released > 0 {
                self.delivery.sent(self.video_tag, released);
            }
        }
    }

    /// Packets expected and received, and late (reordered or repaired) ones,
    /// over every received stream.
    pub fn reception(&self) -> (u64, u64, u64) {
        self.rx.values().fold((0, 0, 0), |(e, r, l), s| {
            let expected = s.first.map_or(0, |f| s.highest - f + 1);
            (e + expected, r + s.count.min(expected), l + s.late)
        })
    }

    /// What this peer measured, handed over as it stops.
    pub(crate) fn result(&mut self) -> PeerResult {
        PeerResult {
            join_time: self.join_time,
            reception: self.reception(),
            delivery: std::mem::take(&mut self.delivery),
            latency_us: std::mem::take(&mut self.latency_us),
            video: self.video_rx,
            tcp_drops: self.tcp.as_ref().map_or(0, |p| p.dropped),
            link: self.link.as_ref().map(|(down, up)| LinkDrops {
                queue_in: down.dropped_queue,
                loss_in: down.dropped_loss,
                queue_out: up.dropped_queue,
                loss_out: up.dropped_loss,
            }),
        }
    }
}

/// Hands a datagram that reached this peer at `local` to its state machine.
fn receive(
    rtc: &mut Rtc,
    proto: Protocol,
    local: SocketAddr,
    from: SocketAddr,
    contents: str0m::net::DatagramRecv<'_>,
) -> Result<()> {
    let input = Input::Receive(Instant::now(), Receive { proto, source: from, destination: local, contents });
    if rtc.accepts(&input) {
        rtc.handle_input(input).map_err(|e| anyhow!("input: {e}"))?;
    }
    Ok(())
}

/// RTP time of `at` for a clock of `khz` kHz counted from `start`.
fn media_ts(start: Instant, at: Instant, khz: u64) -> u32 {
    (at.saturating_duration_since(start).as_micros() as u64 * khz / 1000) as u32
}

#[allow(clippy::too_many_arguments)]
fn write(
    rtc: &mut Rtc,
    mid: Mid,
    codec: Codec,
    seq: u64,
    ts: u32,
    now: Instant,
    payload: Vec<u8>,
    marker: bool,
    ext: ExtensionValues,
) {
    let Some(pt) = rtc.codec_config().find(|p| p.spec().codec == codec).map(|p| p.pt()) else { return };
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else { return };
    tx.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).marker(marker).nackable(true).ext_vals(ext));
}

/// What a peer reports when it stops.
#[derive(Debug, Default)]
pub struct PeerResult {
    /// Time to ICE + DTLS connected.
    pub join_time: Option<Duration>,
    /// One-way latency samples (µs).
    pub latency_us: Vec<u32>,
    /// Packets expected, received, late.
    pub reception: (u64, u64, u64),
    /// Delivered against offered packets (see [`delivery`]).
    pub delivery: Delivery,
    /// Video received in the measured window.
    pub video: VideoReceived,
    /// Behind a weak line: what the line dropped, over the whole run.
    pub link: Option<LinkDrops>,
    /// Over ICE-TCP: datagrams not sent because the backlog was full.
    pub tcp_drops: u64,
}

/// Datagrams a peer's weak line dropped, each way.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkDrops {
    /// To the peer: queue full.
    pub queue_in: u64,
    /// To the peer: lost at random.
    pub loss_in: u64,
    /// From the peer: queue full.
    pub queue_out: u64,
    /// From the peer: lost at random.
    pub loss_out: u64,
}

/// An offer's SDP and its sending m-lines (`mid`, is video).
pub type Offer = (String, Vec<(String, bool)>);
