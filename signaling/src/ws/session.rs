//! One actor per WebSocket: hello first, then messages to the meeting and
//! back, with a keepalive, a bounded outbound queue, and size and rate limits.
//!
//! A malformed or unknown message gets an `error` reply and the session goes
//! on; repeated abuse, a missing hello or a binary frame close it with a
//! meaningful close code. When the socket drops without `leave`, the meeting
//! keeps the participant for the grace period so that it can resume.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use huiyi_protocol::{close, ClientMsg, ErrorCode, ServerMsg, PROTOCOL_VERSION};

use super::wire;
use crate::meeting::core::Notice;
use crate::meeting::{Admitted, Cmd, Guest, Input, MeetingHandle, Meetings, Out};
use crate::services::lifecycle::{self, NotAdmitted};
use crate::store::Store;
use crate::token::{Claims, Role, Signer};

/// What a session needs from the server.
#[derive(Clone)]
pub struct Gate {
    /// Verifies join tokens.
    pub signer: Signer,
    /// The live meetings.
    pub meetings: Meetings,
    /// Meeting records (the lifecycle of scheduled meetings).
    pub store: std::sync::Arc<dyn Store>,
    /// Demo joins without a token are allowed.
    pub demo: bool,
    /// Minutes a scheduled meeting runs past its end.
    pub end_grace_mins: u32,
    /// TURN relays handed to each participant in its welcome.
    pub turn: std::sync::Arc<huiyi_config::TurnConfig>,
}

/// Largest text message accepted (SDP offers of a few m-lines are ~10 KB).
pub const MAX_MESSAGE: usize = 64 * 1024;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(10);
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Token bucket: sustained messages per second and burst.
const RATE: f64 = 20.0;
const BURST: f64 = 60.0;
/// `error` messages (of any origin) tolerated before the session is closed.
const MAX_STRIKES: u32 = 50;

struct Limiter {
    tokens: f64,
    last: Instant,
}

impl Limiter {
    fn allow(&mut self, now: Instant) -> bool {
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * RATE).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn text(msg: &ServerMsg) -> Message {
    Message::Text(Utf8Bytes::from(serde_json::to_string(msg).expect("server messages serialize")))
}

fn error_msg(code: ErrorCode, message: impl Into<String>) -> Message {
    text(&ServerMsg::Error { code, message: message.into() })
}

fn close_msg(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// WebSocket sessions open now (for `/metrics`).
static OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// WebSocket sessions open now.
pub fn open_sessions() -> usize {
    OPEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts a session open while it lives.
struct Open;

impl Open {
    fn new() -> Self {
        OPEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs one WebSocket session to its end.
pub async fn run(socket: WebSocket, gate: Gate) {
    let _open = Open::new();
    let (mut sink, mut stream) = socket.split();
    // 1. hello
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<ClientMsg>(&t),
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return,
        Ok(Some(Ok(_))) => {
            let _ = sink.send(close_msg(close::PROTOCOL, "expected a hello text message")).await;
            return;
        }
        Err(_) => {
            let _ = sink.send(close_msg(close::PROTOCOL, "no hello in time")).await;
            return;
        }
    };
    let (claims, resume) = match hello
        .map_err(|e| (ErrorCode::BadMessage, format!("not a hello: {e}")))
        .and_then(|m| authenticate(&gate, m))
    {
        Ok(x) => x,
        Err(reason) => {
            let (code, msg) = reason;
            let _ = sink.send(error_msg(code, msg)).await;
            let _ = sink.send(close_msg(close::POLICY, "hello refused")).await;
            return;
        }
    };
    let (store, id, grace) = (gate.store.clone(), claims.m.clone(), gate.end_grace_mins);
    let (who, role, epoch) = (claims.p.clone(), claims.r, claims.e);
    let admitted = tokio::task::spawn_blocking(move || {
        lifecycle::admit(store.as_ref(), &id, &who, role, epoch, grace, crate::clock::unix_secs())
    })
    .await
    .unwrap_or_else(|e| Err(NotAdmitted::Store(e.to_string())));
    if let Err(why) = admitted {
        let code = match why {
            NotAdmitted::Closed(_) => ErrorCode::MeetingClosed,
            NotAdmitted::Revoked | NotAdmitted::Replaced => ErrorCode::Forbidden,
            NotAdmitted::Store(_) => ErrorCode::Internal,
        };
        let _ = sink.send(error_msg(code, why.to_string())).await;
        let _ = sink.send(close_msg(close::POLICY, "join refused")).await;
        return;
    }
    // 2. attach to the meeting
    // How many messages may wait for this session before it counts as too slow.
    let queued = gate.meetings.limits().cfg.queued_messages;
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(queued);
    let guest = Guest { pid: claims.p.clone(), name: claims.n.clone(), role: claims.r };
    let attach = gate.meetings.attach(&claims.m, &claims.t, guest, resume, out_tx).await;
    let (me, meeting) = match attach {
        Ok(x) => x,
        Err(refusal) => {
            let _ = sink.send(text(&wire::error(&refusal))).await;
            let _ = sink.send(close_msg(close::POLICY, "join refused")).await;
            return;
        }
    };
    // (Instrumented, not entered: a span entered across an `.await` stays
    // entered on the runtime's thread while the task waits, and every task
    // that thread then runs, other sessions and the meeting actor among
    // them, logs inside it; the server's log lines nested one session in
    // another.)
    let span = tracing::info_span!("session", meeting = %meeting.id, participant = %me.pid);
    async {
        // 3. the loop
        let left = pump(&mut sink, &mut stream, &mut out_rx, &meeting, &me, &gate.turn).await;
        if !left {
            meeting.send(Cmd::Input(Input::Detach { pid: me.pid.clone(), epoch: me.epoch })).await;
        }
    }
    .instrument(span)
    .await;
}

type Refused = (ErrorCode, String);

fn authenticate(gate: &Gate, hello: ClientMsg) -> Result<(Claims, Option<String>), Refused> {
    let ClientMsg::Hello { version, token, demo_meeting, name, resume } = hello else {
        return Err((ErrorCode::BadState, "the first message must be hello".into()));
    };
    if version != PROTOCOL_VERSION {
        return Err((
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol {PROTOCOL_VERSION}, the client {version}; reload the page"),
        ));
    }
    let now = crate::clock::unix_secs() as u64;
    let claims = match (token, demo_meeting) {
        (Some(token), _) => {
            gate.signer.verify(&token, now).map_err(|e| (ErrorCode::Unauthorized, e.to_string()))?
        }
        (None, Some(room)) if gate.demo => {
            let room = room.trim();
            if room.is_empty() || room.chars().count() > 64 {
                return Err((ErrorCode::BadMessage, "a demo meeting name must be 1 to 64 characters".into()));
            }
            let name = name
                .map(|n| n.trim().chars().filter(|c| !c.is_control()).take(32).collect::<String>())
                .filter(|n| !n.is_empty());
            Claims {
                m: format!("demo:{room}"),
                t: room.to_string(),
                p: format!("demo-{}", crate::token::random_id(9)),
                n: name.unwrap_or_else(|| "访客".into()),
                r: Role::Participant,
                nbf: 0,
                exp: u64::MAX,
                e: 0,
            }
        }
        _ => return Err((ErrorCode::Unauthorized, "a join link (token) is required".into())),
    };
    Ok((claims, resume))
}

/// Relays until the socket or the meeting ends. True if the participant left.
async fn pump(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    out_rx: &mut mpsc::Receiver<Out>,
    meeting: &MeetingHandle,
    me: &Admitted,
    turn: &huiyi_config::TurnConfig,
) -> bool {
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    let mut limiter = Limiter { tokens: BURST, last: Instant::now() };
    let mut strikes = 0u32;
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Notice(n)) => {
                    if matches!(*n, Notice::Refused(_)) {
                        strikes += 1;
                        if strikes > MAX_STRIKES {
                            let _ = sink.send(close_msg(close::POLICY, "too many bad messages")).await;
                            return false;
                        }
                    }
                    let mut m = wire::message(*n);
                    if let huiyi_protocol::ServerMsg::Welcome { you, ice_servers, .. } = &mut m {
                        *ice_servers = crate::services::turn::ice_servers(turn, &you.id, crate::clock::unix_secs().max(0) as u64);
                    }
                    if sink.send(text(&m)).await.is_err() {
                        return false;
                    }
                }
                Some(Out::Close(reason)) => {
                    let (code, why) = wire::close_frame(reason);
                    let _ = sink.send(close_msg(code, why)).await;
                    return code == close::NORMAL;
                }
                None => {
                    let _ = sink.send(close_msg(close::GOING_AWAY, "meeting ended")).await;
                    return true;
                }
            },
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { return false };
                last_heard = Instant::now();
                let reply = match frame {
                    Message::Text(t) => {
                        if !limiter.allow(last_heard) {
                            Some(error_msg(ErrorCode::RateLimited, "too many messages; slow down"))
                        } else if t.len() > MAX_MESSAGE {
                            Some(error_msg(ErrorCode::TooLarge, format!("messages are limited to {MAX_MESSAGE} bytes")))
                        } else {
                            match serde_json::from_str::<ClientMsg>(&t) {
                                Ok(ClientMsg::Ping { nonce }) => {
                                    if sink.send(text(&ServerMsg::Pong { nonce })).await.is_err() {
                                        return false;
                                    }
                                    None
                                }
                                Ok(ClientMsg::Hello { .. }) => Some(error_msg(ErrorCode::BadState, "already joined")),
                                // A leave is answered by the meeting with a close (1000);
                                // the loop goes on to deliver it.
                                Ok(msg) => match wire::request(msg) {
                                    Some(request) => {
                                        let cmd = Cmd::Input(Input::Request { pid: me.pid.clone(), epoch: me.epoch, request });
                                        if !meeting.send(cmd).await {
                                            return true;
                                        }
                                        None
                                    }
                                    None => None,
                                },
                                Err(e) => Some(error_msg(ErrorCode::BadMessage, format!("not a protocol message: {e}"))),
                            }
                        }
                    }
                    Message::Binary(_) => Some(error_msg(ErrorCode::BadMessage, "binary frames are not part of the protocol")),
                    Message::Close(_) => return false,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply {
                    strikes += 1;
                    if strikes > MAX_STRIKES {
                        let _ = sink.send(close_msg(close::POLICY, "too many bad messages")).await;
                        return false;
                    }
                    if sink.send(reply).await.is_err() {
                        return false;
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_LIMIT {
                    let _ = sink.send(close_msg(close::POLICY, "no keepalive")).await;
                    return false;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return false;
                }
            }
        }
    }
}
