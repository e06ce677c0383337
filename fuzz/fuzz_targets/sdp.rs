//! SDP offers and answers through the media engine, as a client sends
//! them: a peer joins a room with the fuzzed offer, answers the server's
//! offer with the fuzzed answer, and offers again.
//!
//! Input: up to three SDP texts separated by NUL: the offer, the answer to
//! the server's offer, a second offer. An offer alone joins a room where a
//! Chrome peer (not connected) is; with an answer or a second offer, the
//! room has a connected publisher (a simulated str0m client with audio and
//! simulcast video), so that the server offers its tracks to the fuzzed
//! peer and offers the fuzzed peer's tracks to it. In the answer, `$MID0`,
//! `$MID1`, … stand for the mids of the server's offer and `$UFRAG`,
//! `$PWD`, `$FINGERPRINT` for the values of the fuzzed peer's own offer,
//! so that an answer can fit an offer whose mids are random; the same in
//! the second offer, which must keep the server's m-lines.
//!
//! Holds: the engine's answers and offers parse as SDP, and the connected
//! client accepts every offer the engine makes it; a refused offer adds
//! nobody; the other peer stays; nothing panics.

#![no_main]

use std::time::{Duration, Instant};

use huiyi_fuzz::CHROME_OFFER;
use huiyi_sfu::core::{Engine, EngineConfig};
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{PeerId, RoomId, SfuEvent};
use libfuzzer_sys::fuzz_target;
use str0m::change::{SdpAnswer, SdpOffer};

const ROOM: RoomId = RoomId(1);
const OTHER: PeerId = PeerId(1);
const FUZZED: PeerId = PeerId(2);

/// Moves everything, then the server offers made to the fuzzed peer, oldest first.
fn offers(sim: &mut Sim) -> Vec<(u64, String)> {
    sim.pump();
    let mut out = Vec::new();
    for e in std::mem::take(&mut sim.events) {
        if let SfuEvent::OfferReady { peer, offer_id, sdp, .. } = e {
            SdpOffer::from_sdp_string(&sdp).expect("the engine's offers parse");
            if peer == FUZZED {
                out.push((offer_id, sdp));
            }
        }
    }
    out
}

fn value<'a>(sdp: &'a str, key: &str) -> &'a str {
    sdp.lines().find_map(|l| l.trim_end().strip_prefix(key)).unwrap_or("").trim()
}

/// The answer template with the placeholders filled in.
fn fill(template: &str, server_offer: &str, own_offer: &str) -> String {
    let mut out = template.to_string();
    let mids: Vec<&str> = server_offer.lines().filter_map(|l| l.trim_end().strip_prefix("a=mid:")).collect();
    // From the highest index down, so that `$MID1` does not eat `$MID10`.
    for (i, mid) in mids.iter().enumerate().rev() {
        out = out.replace(&format!("$MID{i}"), mid);
    }
    out.replace("$UFRAG", value(own_offer, "a=ice-ufrag:"))
        .replace("$PWD", value(own_offer, "a=ice-pwd:"))
        .replace("$FINGERPRINT", value(own_offer, "a=fingerprint:sha-256"))
}

fn answered(sdp: Result<String, huiyi_sfu::SfuError>) {
    match sdp {
        Ok(sdp) => {
            SdpAnswer::from_sdp_string(&sdp).expect("the engine's answers parse");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('\0');
    let offer = parts.next().unwrap_or("");
    let (answer, again) = (parts.next(), parts.next());
    let server = "10.9.9.9:3478".parse().expect("an address");
    let mut sim = Sim::new(Engine::new(EngineConfig::default()), server, Instant::now(), 3);
    sim.engine.create_room(ROOM).expect("a new room");
    if answer.is_none() && again.is_none() {
        sim.engine.add_peer(sim.now, ROOM, OTHER, CHROME_OFFER).expect("Chrome's offer is accepted");
    } else {
        sim.join_simulcast(ROOM, OTHER).expect("the publisher joins");
        assert!(sim.connect_all(Duration::from_secs(5)), "the publisher connects");
    }
    offers(&mut sim);

    let added = sim.engine.add_peer(sim.now, ROOM, FUZZED, offer);
    let joined = added.is_ok();
    answered(added);
    if !joined {
        assert_eq!(sim.engine.peer_count(), 1, "a refused offer adds nobody");
        return;
    }
    let server_offer = offers(&mut sim).pop();
    if let (Some(template), Some((offer_id, server_offer))) = (answer, &server_offer) {
        let answer = fill(template, server_offer, offer);
        if let Err(e) = sim.engine.accept_answer(sim.now, FUZZED, *offer_id, &answer) {
            assert!(!e.to_string().is_empty());
        }
    }
    offers(&mut sim);
    if let Some(again) = again {
        let again = match &server_offer {
            Some((_, server_offer)) => fill(again, server_offer, offer),
            None => again.to_string(),
        };
        answered(sim.engine.renegotiate(sim.now, FUZZED, &again));
        offers(&mut sim);
    }
    sim.advance(Duration::from_millis(100));
    let _ = sim.engine.remove_peer(sim.now, FUZZED);
    offers(&mut sim);
    assert_eq!(sim.engine.peer_count(), 1, "only the other peer is left");
    assert_eq!(sim.engine.room_count(), 1);
});
