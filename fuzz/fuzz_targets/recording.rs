//! The recorder's parsing of tapped RTP packets (issue 16): reordering by
//! sequence number, VP8 and H.264 frames joined (RFC 7741, RFC 6184), Opus
//! into Ogg pages, VP8 into IVF (`huiyi_signaling::recording::replay`).
//! The input is a codec byte, then packets: sequence (2 bytes), timestamp
//! (4), marker (1), length (1), payload.
//!
//! Holds: nothing panics; no frame is larger than twice the bytes fed in; the
//! output stays within a bound of the input (a timestamp jump cannot make
//! the Ogg writer fill without end).

#![no_main]

use std::time::{Duration, Instant};

use huiyi_sfu::{PeerId, TapCodec, TapPacket, TrackId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, mut rest)) = data.split_first() else { return };
    let codec = match kind % 3 {
        0 => TapCodec::Opus,
        1 => TapCodec::Vp8,
        _ => TapCodec::H264,
    };
    let t0 = Instant::now();
    let mut packets = Vec::new();
    while rest.len() >= 8 && packets.len() < 2_000 {
        let seq = u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        let timestamp = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]);
        let marker = rest[6] & 1 == 1;
        let len = usize::from(rest[7]).min(rest.len() - 8);
        let payload = rest[8..8 + len].to_vec();
        rest = &rest[8 + len..];
        let arrival = t0 + Duration::from_millis(packets.len() as u64 * 5);
        packets.push(TapPacket {
            track: TrackId(1),
            publisher: PeerId(1),
            layer: 0,
            ssrc: 1,
            seq,
            timestamp,
            marker,
            arrival,
            codec,
            level: None,
            payload,
        });
    }
    let fed: usize = packets.iter().map(|p| p.payload.len()).sum();
    let n = packets.len();
    let out = huiyi_signaling::recording::replay(packets);
    // (Annex B turns a 3-byte STAP-A unit into 5 bytes: at most twice.)
    assert!(out.largest_frame <= 2 * fed + 4 * n, "a frame of {} bytes from {fed} fed", out.largest_frame);
    // An hour of concealed 20 ms frames is the most a gap may become.
    assert!(out.ogg_bytes < 64 << 20, "{} Ogg bytes from {fed}", out.ogg_bytes);
    assert!(out.ivf_bytes <= 32 + 2 * fed as u64 + 16 * n as u64, "{} IVF bytes from {fed}", out.ivf_bytes);
});
