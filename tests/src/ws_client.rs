//! A `webrtc`-crate client that joins through the signaling WebSocket, as the
//! browser does: hello, publish, answer server offers, and keep the maps the
//! protocol gives (m-line → track → participant) to attribute what arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use huiyi_protocol::{ClientMsg, ServerMsg, Source, TrackMeta, PROTOCOL_VERSION};
use huiyi_sfu::PeerId;
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
    tx: mpsc::UnboundedSender<ClientMsg>,
    /// Every message received, in order.
    pub messages: Arc<Mutex<Vec<ServerMsg>>>,
    mid_track: Arc<Mutex<HashMap<String, String>>>,
    track_owner: Arc<Mutex<HashMap<String, String>>>,
}

impl WsParticipant {
    /// Joins with `token`, publishing audio and video if `publish`.
    pub async fn join(ws_url: &str, token: &str, publish: bool, n: u64) -> Result<WsParticipant> {
        let client = Client::new(PeerId(n), publish).await?;
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.context("websocket")?;
        let (mut sink, mut stream) = ws.split();
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            token: Some(token.into()),
            demo_meeting: None,
            name: None,
            resume: None,
        };
        sink.send(Message::text(serde_json::to_string(&hello)?)).await?;
        let welcome = loop {
            let Some(Ok(Message::Text(t))) = stream.next().await else {
                anyhow::bail!("no welcome");
            };
            let msg: ServerMsg = serde_json::from_str(&t)?;
            if matches!(msg, ServerMsg::Welcome { .. }) {
                break msg;
            }
        };
        let ServerMsg::Welcome { you, tracks, .. } = &welcome else { anyhow::bail!("no welcome") };
        let id = you.id.clone();
        let mid_track = Arc::new(Mutex::new(HashMap::new()));
        let track_owner: Arc<Mutex<HashMap<String, String>>> =
            Arc::new(Mutex::new(tracks.iter().map(|t| (t.track.clone(), t.participant.clone())).collect()));
        let messages = Arc::new(Mutex::new(vec![welcome]));
        let (tx, mut rx) = mpsc::unbounded_channel::<ClientMsg>();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let text = serde_json::to_string(&msg).expect("a protocol message serialises");
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        });
        // Publish first, then read everything in order.
        let offer = client.make_offer().await?;
        let tracks: Vec<TrackMeta> = client
            .track_meta()
            .await
            .into_iter()
            .map(|(mid, video)| TrackMeta {
                mid,
                source: if video { Source::Camera } else { Source::Microphone },
            })
            .collect();
        tx.send(ClientMsg::Publish { sdp: offer, tracks, restart: false })?;
        let (c, out, msgs, mt, owners) =
            (client.clone(), tx.clone(), messages.clone(), mid_track.clone(), track_owner.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(t) = frame else { continue };
                let Ok(msg) = serde_json::from_str::<ServerMsg>(&t) else { continue };
                match &msg {
                    ServerMsg::Answer { sdp } => {
                        let _ = c.apply_answer(sdp.clone()).await;
                    }
                    ServerMsg::Offer { offer_id, sdp, tracks } => {
                        for t in tracks {
                            mt.lock().expect("lock").insert(t.mid.clone(), t.track.clone());
                        }
                        if let Ok(answer) = c.answer_offer(sdp.clone(), |s| s).await {
                            let _ = out.send(ClientMsg::Answer { offer_id: *offer_id, sdp: answer });
                        }
                    }
                    ServerMsg::Track { track } => {
                        owners.lock().expect("lock").insert(track.track.clone(), track.participant.clone());
                    }
                    _ => {}
                }
                msgs.lock().expect("lock").push(msg);
            }
        });
        Ok(WsParticipant { client, id, tx, messages, mid_track, track_owner })
    }

    /// Sends a protocol message.
    pub fn send(&self, msg: ClientMsg) {
        let _ = self.tx.send(msg);
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
    pub fn saw(&self, pred: impl Fn(&ServerMsg) -> bool) -> bool {
        self.messages.lock().expect("lock").iter().any(pred)
    }
}
