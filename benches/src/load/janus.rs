//! The same participants against Janus's VideoRoom plugin (its WebSocket
//! API, `janus-protocol`), as a baseline: a sender publishes on one handle
//! (offer → `configure`), and everyone subscribes on another handle to the
//! meeting's other senders (Janus's offer → `start`), one peer connection
//! each, as Janus clients do. Candidates travel in the SDP (no trickle).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::peer::{Peer, PeerHandle, PeerResult};
use super::{RunShared, Scenario, Seat, SeatResult, Target};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One Janus session over its own WebSocket.
struct Session {
    sink: SplitSink<Ws, Message>,
    stream: SplitStream<Ws>,
    id: u64,
    next: u64,
}

impl Session {
    async fn open(url: &str) -> Result<Session> {
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await.context("Janus WebSocket")?;
        let (sink, stream) = ws.split();
        let mut s = Session { sink, stream, id: 0, next: 1 };
        let created = s.request(json!({"janus": "create"})).await?;
        s.id = created["data"]["id"].as_u64().ok_or_else(|| anyhow!("no session id: {created}"))?;
        Ok(s)
    }

    /// Sends a request and returns its final reply (`success` or the plugin
    /// `event`), skipping acks and unrelated messages.
    async fn request(&mut self, mut msg: Value) -> Result<Value> {
        let tx = format!("t{}", self.next);
        self.next += 1;
        msg["transaction"] = json!(tx);
        if self.id != 0 {
            msg["session_id"] = json!(self.id);
        }
        self.sink.send(Message::text(msg.to_string())).await?;
        let reply = self.read_until(|v| v["transaction"] == tx.as_str() && v["janus"] != "ack").await?;
        if reply["janus"] == "error" || reply["plugindata"]["data"]["error"].is_string() {
            bail!("Janus refused {}: {reply}", msg["janus"]);
        }
        Ok(reply)
    }

    async fn read_until(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let wait = async {
            loop {
                let Some(frame) = self.stream.next().await else { bail!("Janus closed the socket") };
                if let Message::Text(t) = frame? {
                    let v: Value = serde_json::from_str(&t)?;
                    if pred(&v) {
                        return Ok(v);
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .map_err(|_| anyhow!("Janus did not answer"))?
    }

    async fn attach(&mut self) -> Result<u64> {
        let r = self.request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"})).await?;
        r["data"]["id"].as_u64().ok_or_else(|| anyhow!("no handle id: {r}"))
    }

    async fn message(&mut self, handle: u64, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut msg = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        self.request(msg).await
    }
}

/// A Janus server.
pub struct Janus {
    /// `ws://host:8188`.
    pub url: String,
    rooms: Mutex<Vec<u64>>,
    senders: AtomicU64,
    /// Published feeds per meeting index.
    feeds: watch::Sender<HashMap<usize, Vec<u64>>>,
}

impl Janus {
    /// A target at `url`.
    pub fn new(url: String) -> Janus {
        Janus {
            url,
            rooms: Mutex::new(Vec::new()),
            senders: AtomicU64::new(0),
            feeds: watch::channel(HashMap::new()).0,
        }
    }

    fn room(&self, index: usize) -> Result<u64> {
        self.rooms
            .lock()
            .map_err(|_| anyhow!("lock"))?
            .get(index)
            .copied()
            .ok_or_else(|| anyhow!("no room {index}"))
    }

    async fn publish(
        &self,
        s: &mut Session,
        seat: &Seat,
        room: u64,
        shared: &RunShared,
        began: std::time::Instant,
    ) -> Result<(PeerHandle, u64)> {
        let peer =
            Peer::new(shared.cfg.bind, seat.media, seat.link, seat.transport, shared.totals.clone(), began)
                .await?;
        let peer = PeerHandle::spawn(peer);
        let h = s.attach().await?;
        let joined = s
            .message(
                h,
                json!({"request": "join", "ptype": "publisher", "room": room, "display": seat.name}),
                None,
            )
            .await?;
        let feed =
            joined["plugindata"]["data"]["id"].as_u64().ok_or_else(|| anyhow!("no feed id: {joined}"))?;
        let (sdp, _) = peer.offer().await?;
        let body =
            json!({"request": "configure", "audio": seat.media.audio, "video": seat.media.video_bps > 0});
        let configured = s.message(h, body, Some(json!({"type": "offer", "sdp": sdp}))).await?;
        let answer = configured["jsep"]["sdp"].as_str().ok_or_else(|| anyhow!("no answer: {configured}"))?;
        peer.accept_answer(answer.into()).await?;
        // A publisher becomes a feed others can subscribe to once its media is up.
        s.read_until(|v| v["janus"] == "webrtcup" && v["sender"] == h).await?;
        Ok((peer, feed))
    }

    async fn subscribe(
        &self,
        s: &mut Session,
        seat: &Seat,
        room: u64,
        feeds: &[u64],
        shared: &RunShared,
        began: std::time::Instant,
    ) -> Result<PeerHandle> {
        let media = super::peer::Media {
            audio: false,
            video_bps: 0,
            fps: seat.media.fps,
            simulcast: false,
            talking: false,
            paced: false,
        };
        let peer = Peer::new(shared.cfg.bind, media, seat.link, seat.transport, shared.totals.clone(), began)
            .await?;
        let peer = PeerHandle::spawn(peer);
        let h = s.attach().await?;
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let attached = s
            .message(
                h,
                json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
                None,
            )
            .await?;
        let offer = attached["jsep"]["sdp"].as_str().ok_or_else(|| anyhow!("no offer: {attached}"))?;
        let answer = peer.accept_offer(offer.into()).await?;
        s.message(
            h,
            json!({"request": "start", "room": room}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await?;
        Ok(peer)
    }
}

impl Target for Janus {
    fn name(&self) -> &'static str {
        "janus"
    }

    async fn prepare(&self, scenario: &Scenario) -> Result<()> {
        let mut s = Session::open(&self.url).await?;
        let h = s.attach().await?;
        let mut rooms = Vec::new();
        for i in 0..scenario.rooms {
            let id = 100_000 + (std::process::id() as u64 % 10_000) * 100 + i as u64;
            let _ = s.message(h, json!({"request": "destroy", "room": id}), None).await;
            let body = json!({"request": "create", "room": id, "publishers": scenario.senders + 1,
                "videocodec": "vp8", "audiocodec": "opus", "bitrate": 0, "fir_freq": 0,
                "notify_joining": false, "permanent": false});
            s.message(h, body, None).await?;
            rooms.push(id);
        }
        *self.rooms.lock().map_err(|_| anyhow!("lock"))? = rooms;
        self.senders.store(scenario.senders as u64, Relaxed);
        self.feeds.send_replace(HashMap::new());
        let _ = s.request(json!({"janus": "destroy"})).await;
        Ok(())
    }

    async fn seat(&self, seat: Seat, shared: Arc<RunShared>) -> Result<SeatResult> {
        // Join times count from here, for every peer connection of the seat.
        let began = std::time::Instant::now();
        let room = self.room(seat.room)?;
        let mut s = Session::open(&self.url).await?;
        let mut peers = Vec::new();
        let mut own = None;
        if seat.sender {
            let (peer, feed) = self.publish(&mut s, &seat, room, &shared, began).await?;
            peers.push(peer);
            own = Some(feed);
            self.feeds.send_modify(|f| f.entry(seat.room).or_default().push(feed));
        }
        // Subscribe to every sender of the meeting but oneself.
        let senders = self.senders.load(Relaxed) as usize;
        let mut rx = self.feeds.subscribe();
        let ready = async {
            rx.wait_for(|f| f.get(&seat.room).map_or(0, Vec::len) >= senders)
                .await
                .map(|f| f.get(&seat.room).cloned().unwrap_or_default())
        };
        let feeds = tokio::time::timeout(shared.cfg.join_timeout, ready)
            .await
            .map_err(|_| anyhow!("senders missing"))??;
        let others: Vec<u64> = feeds.into_iter().filter(|f| Some(*f) != own).collect();
        if !others.is_empty() {
            peers.push(self.subscribe(&mut s, &seat, room, &others, &shared, began).await?);
        }
        let mut stop = shared.stop.clone();
        let mut keepalive = tokio::time::interval(Duration::from_secs(20));
        loop {
            tokio::select! {
                frame = s.stream.next() => if frame.is_none() { break },
                _ = keepalive.tick() => {
                    let msg = json!({"janus": "keepalive", "session_id": s.id, "transaction": "k"});
                    s.sink.send(Message::text(msg.to_string())).await?;
                }
                _ = stop.changed() => break,
            }
        }
        let _ = s
            .sink
            .send(Message::text(
                json!({"janus": "destroy", "session_id": s.id, "transaction": "d"}).to_string(),
            ))
            .await;
        let mut results: Vec<PeerResult> = Vec::new();
        for p in &peers {
            results.push(p.finish().await);
        }
        Ok(SeatResult { peers: results, ..SeatResult::default() })
    }

    /// A sender publishes on one connection and, when the meeting has other
    /// senders, subscribes on a second; a listener subscribes on one.
    fn connections(&self, scenario: &Scenario) -> usize {
        let per_sender = if scenario.senders > 1 { 2 } else { 1 };
        let per_listener = usize::from(scenario.senders > 0);
        scenario.rooms * (scenario.senders * per_sender + scenario.listeners * per_listener)
    }

    async fn finish(&self) {
        let Ok(mut s) = Session::open(&self.url).await else { return };
        let Ok(h) = s.attach().await else { return };
        let rooms = self.rooms.lock().map(|r| r.clone()).unwrap_or_default();
        for id in rooms {
            let _ = s.message(h, json!({"request": "destroy", "room": id}), None).await;
        }
        let _ = s.request(json!({"janus": "destroy"})).await;
    }
}
