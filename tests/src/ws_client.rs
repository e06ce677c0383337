//! A `webrtc`-crate client that joins through the signaling WebSocket, as the
//! browser does: hello, publish, answer server offers, and keep the maps the
//! protocol gives (m-line → track → participant) to attribute what arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use huiyi_sfu::PeerId;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Client;

/// A participant joined through signaling.
pub struct WsParticipant {
    /// The media side.
    pub client: Arc<Client>,
    /// My participant id.
    pub id: String,
    /// Messages to send.
    tx: mpsc::UnboundedSender<Value>,
    /// Every message received, in order.
    pub messages: Arc<Mutex<Vec<Value>>>,
    mid_track: Arc<Mutex<HashMap<String, String>>>,
    track_owner: Arc<Mutex<HashMap<String, String>>>,
}

impl WsParticipant {
    /// Joins with `token`, publishing audio and video if `publish`.
    pub async fn join(ws_url: &str, token: &str, publish: bool, n: u64) -> Result<WsParticipant> {
        let client = Client::new(PeerId(n), publish).await?;
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.context("websocket")?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(json!({"type": "hello", "version": 1, "token": token}).to_string())).await?;
        let welcome: Value = loop {
            if let Some(Ok(Message::Text(t))) = stream.next().await {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "welcome" {
                    break v;
                }
            } else {
                anyhow::bail!("no welcome");
            }
        };
        let id = welcome["you"]["id"].as_str().context("id")?.to_string();
        let messages = Arc::new(Mutex::new(vec![welcome.clone()]));
        let mid_track = Arc::new(Mutex::new(HashMap::new()));
        let track_owner: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::new()));
        for t in welcome["tracks"].as_array().into_iter().flatten() {
            track_owner.lock().expect("lock").insert(
                t["track"].as_str().unwrap_or("").into(),
                t["participant"].as_str().unwrap_or("").into(),
            );
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            while let Some(v) = rx.recv().await {
                if sink.send(Message::text(v.to_string())).await.is_err() {
                    return;
                }
            }
        });
        // Publish first, then read everything in order.
        let offer = client.make_offer().await?;
        let tracks: Vec<Value> = client
            .track_meta()
            .await
            .into_iter()
            .map(|(mid, video)| json!({"mid": mid, "source": if video { "camera" } else { "microphone" }}))
            .collect();
        tx.send(json!({"type": "publish", "sdp": offer, "tracks": tracks}))?;
        let (c, out, msgs, mt, owners) =
            (client.clone(), tx.clone(), messages.clone(), mid_track.clone(), track_owner.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(t) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                match v["type"].as_str() {
                    Some("answer") => {
                        let _ = c.apply_answer(v["sdp"].as_str().unwrap_or("").into()).await;
                    }
                    Some("offer") => {
                        for t in v["tracks"].as_array().into_iter().flatten() {
                            mt.lock().expect("lock").insert(
                                t["mid"].as_str().unwrap_or("").into(),
                                t["track"].as_str().unwrap_or("").into(),
                            );
                        }
                        if let Ok(answer) =
                            c.answer_offer(v["sdp"].as_str().unwrap_or("").into(), |s| s).await
                        {
                            let _ =
                                out.send(json!({"type": "answer", "offer_id": v["offer_id"], "sdp": answer}));
                        }
                    }
                    Some("track") => {
                        owners.lock().expect("lock").insert(
                            v["track"].as_str().unwrap_or("").into(),
                            v["participant"].as_str().unwrap_or("").into(),
                        );
                    }
                    _ => {}
                }
                msgs.lock().expect("lock").push(v);
            }
        });
        Ok(WsParticipant { client, id, tx, messages, mid_track, track_owner })
    }

    /// Sends a protocol message.
    pub fn send(&self, v: Value) {
        let _ = self.tx.send(v);
    }

    /// Packets received from participant `from`, video or audio.
    pub fn got_from(&self, from: &str, video: bool) -> usize {
        let mids = self.mid_track.lock().expect("lock").clone();
        let owners = self.track_owner.lock().expect("lock").clone();
        self.client
            .received
            .lock()
            .expect("lock")
            .iter()
            .filter(|g| g.video == video)
            .filter(|g| mids.get(&g.mid).and_then(|t| owners.get(t)).is_some_and(|o| o == from))
            .count()
    }

    /// True once a message matching `pred` arrived.
    pub fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.messages.lock().expect("lock").iter().any(pred)
    }
}
