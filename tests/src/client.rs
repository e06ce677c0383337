//! A WebRTC client peer on the `webrtc` crate, joined to the media plane
//! through its typed API (the signaling server will carry the same SDP).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use huiyi_sfu::{PeerId, RoomId, SfuEvent, SfuHandle};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType};
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::rtp_transceiver::{RTCPFeedback, RTCRtpTransceiverInit};
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};

/// One RTP packet as the client received it.
#[derive(Debug, Clone)]
pub struct Got {
    /// The media stream id the server announced (`peer-<publisher id>`).
    pub stream: String,
    /// Audio or video.
    pub video: bool,
    /// The m-line it arrived on.
    pub mid: String,
    /// RTP sequence number.
    pub seq: u16,
    /// The payload.
    pub payload: Bytes,
}

impl Got {
    /// The id the sending client wrote into the payload.
    pub fn id(&self) -> u64 {
        let at = if self.video { 5 } else { 0 };
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.payload[at..at + 8]);
        u64::from_be_bytes(b)
    }
}

/// A client peer.
pub struct Client {
    /// Its peer id at the server.
    pub id: PeerId,
    /// The connection.
    pub pc: Arc<RTCPeerConnection>,
    /// Everything received, in arrival order.
    pub received: Arc<Mutex<Vec<Got>>>,
    /// Held while an offer/answer exchange is in progress.
    negotiating: tokio::sync::Mutex<()>,
    video: Option<Arc<TrackLocalStaticRTP>>,
    audio: Option<Arc<TrackLocalStaticRTP>>,
    keyframe_wanted: Arc<AtomicBool>,
    /// Keyframe requests (PLI) the server sent this client.
    pub plis: Arc<AtomicU64>,
}

fn video_capability() -> RTCRtpCodecCapability {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.into(), parameter: parameter.into() };
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_VP8.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
    }
}

fn audio_capability() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

impl Client {
    /// A client that publishes audio and video when `publish`, and receives.
    pub async fn new(id: PeerId, publish: bool) -> Result<Arc<Client>> {
        crate::init_crypto();
        let mut m = MediaEngine::default();
        m.register_codec(
            RTCRtpCodecParameters { capability: video_capability(), payload_type: 96, ..Default::default() },
            RTPCodecType::Video,
        )?;
        m.register_codec(
            RTCRtpCodecParameters { capability: audio_capability(), payload_type: 111, ..Default::default() },
            RTPCodecType::Audio,
        )?;
        let registry = register_default_interceptors(Registry::new(), &mut m)?;
        let mut s = SettingEngine::default();
        s.set_network_types(vec![NetworkType::Udp4]);
        s.set_include_loopback_candidate(true);
        s.set_ip_filter(Box::new(|ip| ip.is_loopback()));
        s.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
        let api = APIBuilder::new()
            .with_media_engine(m)
            .with_interceptor_registry(registry)
            .with_setting_engine(s)
            .build();
        let pc = Arc::new(
            api.new_peer_connection(RTCConfiguration { ice_servers: vec![], ..Default::default() }).await?,
        );

        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        pc.on_track(Box::new(move |track, _, transceiver| {
            let sink = sink.clone();
            let mid = transceiver.mid().map(|m| m.to_string()).unwrap_or_default();
            // The handler's future delays the next track's start: read elsewhere.
            tokio::spawn(async move {
                let stream = track.stream_id();
                let video = track.kind() == RTPCodecType::Video;
                while let Ok((p, _)) = track.read_rtp().await {
                    sink.lock().expect("lock").push(Got {
                        stream: stream.clone(),
                        mid: mid.clone(),
                        video,
                        seq: p.header.sequence_number,
                        payload: p.payload,
                    });
                }
            });
            Box::pin(async {})
        }));

        let keyframe_wanted = Arc::new(AtomicBool::new(true));
        let plis = Arc::new(AtomicU64::new(0));
        let (mut video, mut audio) = (None, None);
        if publish {
            let v = Arc::new(TrackLocalStaticRTP::new(
                video_capability(),
                "video".into(),
                format!("client-{}", id.0),
            ));
            let a = Arc::new(TrackLocalStaticRTP::new(
                audio_capability(),
                "audio".into(),
                format!("client-{}", id.0),
            ));
            for (track, watch_pli) in
                [(v.clone() as Arc<dyn TrackLocal + Send + Sync>, true), (a.clone() as _, false)]
            {
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    send_encodings: vec![],
                };
                let transceiver = pc.add_transceiver_from_track(track, Some(init)).await?;
                let sender = transceiver.sender().await;
                let (wanted, plis) = (keyframe_wanted.clone(), plis.clone());
                // Reading RTCP drives the NACK responder; PLIs ask for a keyframe.
                tokio::spawn(async move {
                    while let Ok((packets, _)) = sender.read_rtcp().await {
                        for p in packets {
                            if watch_pli && p.as_any().downcast_ref::<PictureLossIndication>().is_some() {
                                wanted.store(true, Ordering::Relaxed);
                                plis.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
            video = Some(v);
            audio = Some(a);
        } else {
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                send_encodings: vec![],
            };
            pc.add_transceiver_from_kind(RTPCodecType::Audio, Some(init)).await?;
        }
        Ok(Arc::new(Client {
            id,
            pc,
            received,
            negotiating: tokio::sync::Mutex::new(()),
            video,
            audio,
            keyframe_wanted,
            plis,
        }))
    }

    async fn local_sdp(&self) -> Result<String> {
        Ok(self.pc.local_description().await.context("no local description")?.sdp)
    }

    /// Joins `room`: offer, the server's answer (through `rewrite`, which may
    /// point the client at a relay), connection.
    pub async fn join(
        &self,
        sfu: &SfuHandle,
        room: RoomId,
        rewrite: impl Fn(String) -> String,
    ) -> Result<()> {
        let _guard = self.negotiating.lock().await;
        let offer = self.pc.create_offer(None).await?;
        let mut gathered = self.pc.gathering_complete_promise().await;
        self.pc.set_local_description(offer).await?;
        let _ = gathered.recv().await;
        let answer = sfu.add_peer(room, self.id, self.local_sdp().await?).await?;
        self.pc.set_remote_description(RTCSessionDescription::answer(rewrite(answer))?).await?;
        Ok(())
    }

    /// Makes the offer for what this client publishes (gathering complete).
    pub async fn make_offer(&self) -> Result<String> {
        let offer = self.pc.create_offer(None).await?;
        let mut gathered = self.pc.gathering_complete_promise().await;
        self.pc.set_local_description(offer).await?;
        let _ = gathered.recv().await;
        self.local_sdp().await
    }

    /// Applies the server's answer.
    pub async fn apply_answer(&self, sdp: String) -> Result<()> {
        self.pc.set_remote_description(RTCSessionDescription::answer(sdp)?).await?;
        Ok(())
    }

    /// What each of my published m-lines carries, for `publish.tracks`.
    pub async fn track_meta(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for t in self.pc.get_transceivers().await {
            if let Some(mid) = t.mid() {
                if t.direction() == RTCRtpTransceiverDirection::Sendonly {
                    out.push((mid.to_string(), t.kind() == RTPCodecType::Video));
                }
            }
        }
        out
    }

    /// Answers a server offer.
    pub async fn answer_offer(&self, sdp: String, rewrite: impl Fn(String) -> String) -> Result<String> {
        let _guard = self.negotiating.lock().await;
        self.pc.set_remote_description(RTCSessionDescription::offer(rewrite(sdp))?).await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.local_sdp().await
    }

    /// Sends video every 10 ms (a keyframe when asked for, and each second)
    /// and audio every 20 ms, each payload carrying a running id, until `stop`.
    pub fn start_sending(
        self: &Arc<Self>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<u64> {
        let me = self.clone();
        tokio::spawn(async move {
            let (Some(video), Some(audio)) = (me.video.clone(), me.audio.clone()) else {
                return 0;
            };
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let start = Instant::now();
            let mut id: u64 = 0;
            let mut last_key = Instant::now();
            while !*stop.borrow() {
                tick.tick().await;
                id += 1;
                let key = me.keyframe_wanted.swap(false, Ordering::Relaxed)
                    || last_key.elapsed() > Duration::from_secs(1);
                if key {
                    last_key = Instant::now();
                }
                let pic = (id & 0x7fff) as u16;
                let mut payload = vec![0x90, 0x80, 0x80 | (pic >> 8) as u8, pic as u8, u8::from(!key)];
                payload.extend_from_slice(&id.to_be_bytes());
                payload.resize(900, 0xab);
                let ts = (start.elapsed().as_micros() * 90 / 1000) as u32;
                let header = Header {
                    version: 2,
                    marker: true,
                    payload_type: 96,
                    sequence_number: id as u16,
                    timestamp: ts,
                    ..Default::default()
                };
                let _ = video.write_rtp(&Packet { header, payload: Bytes::from(payload) }).await;
                if id.is_multiple_of(2) {
                    let mut payload = id.to_be_bytes().to_vec();
                    payload.resize(100, 0x11);
                    let ts = (start.elapsed().as_micros() * 48 / 1000) as u32;
                    let header = Header {
                        version: 2,
                        payload_type: 111,
                        sequence_number: (id / 2) as u16,
                        timestamp: ts,
                        ..Default::default()
                    };
                    let _ = audio.write_rtp(&Packet { header, payload: Bytes::from(payload) }).await;
                }
            }
            id
        })
    }

    /// Packets received from `stream` (`peer-<id>`), video or audio.
    pub fn got(&self, stream: &str, video: bool) -> Vec<Got> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|g| g.stream == stream && g.video == video)
            .cloned()
            .collect()
    }
}

/// Rewrites SDP on its way to a client (e.g. to point it at a relay).
pub type Rewrite = Arc<dyn Fn(String) -> String + Send + Sync>;

type Registered = HashMap<PeerId, (Arc<Client>, Rewrite)>;

/// Answers server offers for registered clients, and keeps every other event.
#[derive(Clone, Default)]
pub struct Negotiator {
    clients: Arc<Mutex<Registered>>,
    /// Events other than offers, in order.
    pub events: Arc<Mutex<Vec<SfuEvent>>>,
}

impl Negotiator {
    /// Starts answering offers from `events`.
    pub fn start(sfu: SfuHandle, mut events: huiyi_sfu::api::SfuEvents) -> Negotiator {
        let n = Negotiator::default();
        let me = n.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let SfuEvent::OfferReady { room, peer, offer_id, sdp, .. } = e {
                    let Some((client, rewrite)) = me.clients.lock().expect("lock").get(&peer).cloned() else {
                        continue;
                    };
                    let sfu = sfu.clone();
                    tokio::spawn(async move {
                        let rw = rewrite.clone();
                        match client.answer_offer(sdp, move |s| rw(s)).await {
                            Ok(answer) => {
                                if let Err(e) = sfu.accept_answer(room, peer, offer_id, answer).await {
                                    tracing::warn!(%peer, error = %e, "server refused answer");
                                }
                            }
                            Err(e) => tracing::warn!(%peer, error = %e, "client could not answer"),
                        }
                    });
                } else {
                    me.events.lock().expect("lock").push(e);
                }
            }
        });
        n
    }

    /// Registers a client (before it joins) with the SDP rewrite for its link.
    pub fn register(&self, client: Arc<Client>, rewrite: Rewrite) {
        self.clients.lock().expect("lock").insert(client.id, (client, rewrite));
    }
}
