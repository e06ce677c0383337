//! A peer in its own task: the signaling side of a participant hands it
//! SDP through a [`PeerHandle`] and collects what it measured at the end.

use anyhow::{anyhow, Result};

use super::peer::{Offer, Peer, PeerResult};

enum Cmd {
    Offer(tokio::sync::oneshot::Sender<Result<Offer>>),
    Answer(String, tokio::sync::oneshot::Sender<Result<()>>),
    AcceptOffer(String, tokio::sync::oneshot::Sender<Result<String>>),
    Finish(tokio::sync::oneshot::Sender<PeerResult>),
}

/// A peer running in its own task; signaling talks to it through this.
pub struct PeerHandle {
    tx: tokio::sync::mpsc::Sender<Cmd>,
}

impl PeerHandle {
    /// Starts `peer` in a task.
    pub fn spawn(mut peer: Peer) -> PeerHandle {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Cmd>(8);
        tokio::spawn(async move {
            loop {
                let deadline = peer.deadline();
                tokio::select! {
                    cmd = rx.recv() => match cmd {
                        Some(Cmd::Offer(reply)) => { let _ = reply.send(peer.offer()); }
                        Some(Cmd::Answer(sdp, reply)) => {
                            let r = peer.connect_tcp(&sdp).await.and_then(|()| peer.accept_answer(&sdp));
                            let _ = reply.send(r);
                        }
                        Some(Cmd::AcceptOffer(sdp, reply)) => {
                            let r = peer.connect_tcp(&sdp).await.and_then(|()| peer.accept_offer(&sdp));
                            let _ = reply.send(r);
                        }
                        Some(Cmd::Finish(reply)) => {
                            let _ = reply.send(peer.result());
                            return;
                        }
                        None => return,
                    },
                    r = peer.step(deadline) => if let Err(e) = r {
                        eprintln!("peer failed: {e:#}");
                        // Keep answering commands so the run can finish.
                        while let Some(cmd) = rx.recv().await {
                            if let Cmd::Finish(reply) = cmd {
                                let _ = reply.send(peer.result());
                                return;
                            }
                        }
                        return;
                    },
                }
                if let Err(e) = peer.tick() {
                    eprintln!("peer failed: {e:#}");
                }
            }
        });
        PeerHandle { tx }
    }

    async fn call<T>(&self, make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| anyhow!("peer stopped"))?;
        rx.await.map_err(|_| anyhow!("peer stopped"))
    }

    /// See [`Peer::offer`].
    pub async fn offer(&self) -> Result<Offer> {
        self.call(Cmd::Offer).await?
    }

    /// See [`Peer::accept_answer`].
    pub async fn accept_answer(&self, sdp: String) -> Result<()> {
        self.call(|r| Cmd::Answer(sdp, r)).await?
    }

    /// See [`Peer::accept_offer`].
    pub async fn accept_offer(&self, sdp: String) -> Result<String> {
        self.call(|r| Cmd::AcceptOffer(sdp, r)).await?
    }

    /// Stops the peer and returns what it measured.
    pub async fn finish(&self) -> PeerResult {
        self.call(Cmd::Finish).await.unwrap_or_default()
    }
}
