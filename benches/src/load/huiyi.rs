//! Participants joining Huiyi through its documented signaling protocol
//! (docs/protocol.md): `hello` with a join token, `publish` an offer, answer
//! the server's offers, `ping` every 10 s, `leave` at the end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use huiyi_protocol::{ClientMsg, ServerMsg, Source, TrackMeta, PROTOCOL_VERSION};
use huiyi_signaling::token::{Claims, Role, Signer};
use tokio_tungstenite::tungstenite::Message;

use super::metrics::ServerCounters;
use super::peer::{Peer, PeerHandle};
use super::{RunShared, Scenario, Seat, SeatResult, Target};

/// How long connecting and the hello → welcome exchange may take.
const HANDSHAKE: Duration = Duration::from_secs(20);

/// A Huiyi server.
pub struct Huiyi {
    /// `ws://host:port/ws`.
    pub ws_url: String,
    /// Signs join tokens (the server's `data_dir/secret.key`); without it the
    /// server must run with `signaling.demo = true`.
    pub signer: Option<Signer>,
    /// Distinguishes this run's meetings from earlier runs'.
    pub run_id: String,
    /// Each meeting is recorded: its senders are chairs and ask for it.
    pub record: bool,
    /// For a `wss://` server: the certificates to trust.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Huiyi {
    fn hello(&self, seat: &Seat, index: usize) -> ClientMsg {
        let meeting = format!("load-{}-{}", self.run_id, seat.room);
        match &self.signer {
            Some(signer) => {
                let claims = Claims {
                    m: meeting.clone(),
                    t: format!("压力测试 {meeting}"),
                    p: format!("load-{index}"),
                    n: seat.name.clone(),
                    r: match (seat.sender, self.record) {
                        (true, true) => Role::Chair,
                        (true, false) => Role::Venue,
                        (false, _) => Role::Participant,
                    },
                    nbf: 0,
                    exp: (huiyi_signaling::clock::unix_secs() + 24 * 3600) as u64,
                    e: 0,
                };
                ClientMsg::Hello {
                    version: PROTOCOL_VERSION,
                    token: Some(signer.sign(&claims)),
                    demo_meeting: None,
                    name: None,
                    resume: None,
                }
            }
            None => ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                token: None,
                demo_meeting: Some(meeting),
                name: Some(seat.name.clone()),
                resume: None,
            },
        }
    }
}

impl Target for Huiyi {
    fn name(&self) -> &'static str {
        "huiyi"
    }

    async fn prepare(&self, _scenario: &Scenario) -> Result<()> {
        Ok(()) // A meeting opens on its first join.
    }

    async fn seat(&self, seat: Seat, shared: Arc<RunShared>) -> Result<SeatResult> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The join time counts from here: socket, signaling, ICE, DTLS.
        let peer = Peer::new(
            shared.cfg.bind,
            seat.media,
            seat.link,
            seat.transport,
            shared.totals.clone(),
            std::time::Instant::now(),
        )
        .await?;
        let handle = PeerHandle::spawn(peer);
        let connect = super::socket::open(&self.ws_url, self.tls.as_ref());
        let ws = tokio::time::timeout(HANDSHAKE, connect)
            .await
            .map_err(|_| anyhow!("no signaling socket within {HANDSHAKE:?}"))?
            .context("signaling socket")?;
        let (mut sink, mut stream) = ws.split();
        sink.send(text(&self.hello(&seat, index))?).await?;
        let welcome = async {
            loop {
                let t = match stream.next().await {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue, // pings
                    Some(Err(e)) => bail!("no welcome: {e}"),
                    None => bail!("no welcome: the server closed the socket"),
                };
                match serde_json::from_str::<ServerMsg>(&t)? {
                    ServerMsg::Welcome { .. } => return Ok(()),
                    ServerMsg::Error { message, .. } => bail!("refused: {message:?}"),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(HANDSHAKE, welcome)
            .await
            .map_err(|_| anyhow!("no welcome within {HANDSHAKE:?}"))??;
        let (sdp, tracks) = handle.offer().await?;
        let tracks: Vec<TrackMeta> = tracks
            .into_iter()
            .map(|(mid, video)| TrackMeta {
                mid,
                source: if video { Source::Camera } else { Source::Microphone },
            })
            .collect();
        sink.send(text(&ClientMsg::Publish { sdp, tracks, restart: false })?).await?;
        if self.record && seat.sender {
            // The first asks; the others' requests find it recording.
            let record = ClientMsg::Control { action: huiyi_protocol::Control::Record { on: true } };
            sink.send(text(&record)?).await?;
        }
        let mut stop = shared.stop.clone();
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { return Err(anyhow!("the server closed the socket")) };
                    let Message::Text(t) = frame else { continue };
                    let Ok(msg) = serde_json::from_str::<ServerMsg>(&t) else { continue };
                    match msg {
                        ServerMsg::Answer { sdp } => handle.accept_answer(sdp).await?,
                        ServerMsg::Offer { offer_id, sdp, .. } => {
                            let answer = handle.accept_offer(sdp).await?;
                            sink.send(text(&ClientMsg::Answer { offer_id, sdp: answer })?).await?;
                        }
                        ServerMsg::Error { message, .. } => eprintln!("server error: {message:?}"),
                        _ => {}
                    }
                }
                _ = ping.tick() => sink.send(text(&ClientMsg::Ping { nonce: 0 })?).await?,
                _ = stop.changed() => break,
            }
        }
        if let Ok(leave) = text(&ClientMsg::Leave) {
            let _ = sink.send(leave).await;
        }
        let result = handle.finish().await;
        Ok(SeatResult { peers: vec![result], ..SeatResult::default() })
    }

    async fn finish(&self) {}

    async fn server_counters(&self) -> Option<ServerCounters> {
        super::metrics::scrape(&super::metrics::http_host_of(&self.ws_url)?).await
    }
}

/// A protocol message as a text frame.
fn text(msg: &ClientMsg) -> Result<Message> {
    Ok(Message::text(serde_json::to_string(msg)?))
}
