//! Participants joining Huiyi through its documented signaling protocol
//! (docs/protocol.md): `hello` with a join token, `publish` an offer, answer
//! the server's offers, `ping` every 10 s, `leave` at the end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use huiyi_signaling::token::{Claims, Role, Signer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

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
}

impl Huiyi {
    fn hello(&self, seat: &Seat, index: usize) -> Value {
        let meeting = format!("load-{}-{}", self.run_id, seat.room);
        match &self.signer {
            Some(signer) => {
                let claims = Claims {
                    m: meeting.clone(),
                    t: format!("压力测试 {meeting}"),
                    p: format!("load-{index}"),
                    n: seat.name.clone(),
                    r: if seat.sender { Role::Venue } else { Role::Participant },
                    nbf: 0,
                    exp: (huiyi_signaling::clock::unix_secs() + 24 * 3600) as u64,
                };
                json!({"type": "hello", "version": 1, "token": signer.sign(&claims)})
            }
            None => json!({"type": "hello", "version": 1, "demo_meeting": meeting, "name": seat.name}),
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
        let peer =
            Peer::new(shared.cfg.bind, seat.media, shared.totals.clone(), std::time::Instant::now()).await?;
        let handle = PeerHandle::spawn(peer);
        let connect = tokio_tungstenite::connect_async(self.ws_url.as_str());
        let (ws, _) = tokio::time::timeout(HANDSHAKE, connect)
            .await
            .map_err(|_| anyhow!("no signaling socket within {HANDSHAKE:?}"))?
            .context("signaling socket")?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(self.hello(&seat, index).to_string())).await?;
        let welcome = async {
            loop {
                let t = match stream.next().await {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue, // pings
                    Some(Err(e)) => bail!("no welcome: {e}"),
                    None => bail!("no welcome: the server closed the socket"),
                };
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("welcome") => return Ok(()),
                    Some("error") => bail!("refused: {}", v["message"]),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(HANDSHAKE, welcome)
            .await
            .map_err(|_| anyhow!("no welcome within {HANDSHAKE:?}"))??;
        let (sdp, tracks) = handle.offer().await?;
        let tracks: Vec<Value> = tracks
            .iter()
            .map(|(mid, video)| json!({"mid": mid, "source": if *video { "camera" } else { "microphone" }}))
            .collect();
        sink.send(Message::text(json!({"type": "publish", "sdp": sdp, "tracks": tracks}).to_string()))
            .await?;
        let mut stop = shared.stop.clone();
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { return Err(anyhow!("the server closed the socket")) };
                    let Message::Text(t) = frame else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                    match v["type"].as_str() {
                        Some("answer") => handle.accept_answer(v["sdp"].as_str().unwrap_or("").into()).await?,
                        Some("offer") => {
                            let answer = handle.accept_offer(v["sdp"].as_str().unwrap_or("").into()).await?;
                            let reply = json!({"type": "answer", "offer_id": v["offer_id"], "sdp": answer});
                            sink.send(Message::text(reply.to_string())).await?;
                        }
                        Some("error") => eprintln!("server error: {}", v["message"]),
                        _ => {}
                    }
                }
                _ = ping.tick() => sink.send(Message::text(r#"{"type":"ping"}"#)).await?,
                _ = stop.changed() => break,
            }
        }
        let _ = sink.send(Message::text(r#"{"type":"leave"}"#)).await;
        let result = handle.finish().await;
        Ok(SeatResult { peers: vec![result] })
    }

    async fn finish(&self) {}
}
