//! H.264 keyframe detection on RTP payloads (RFC 6184: single NAL unit,
//! STAP-A, FU-A) as the forwarding path reads it
//! (`huiyi_sfu::core::vp8::h264_starts_keyframe`: IDR or SPS), against
//! str0m's independent reader.
//!
//! Holds: the two agree; nothing panics.

#![no_main]

use huiyi_sfu::core::vp8::h264_starts_keyframe;
use libfuzzer_sys::fuzz_target;
use str0m::format::detect_h264_nalu;

const IDR: u8 = 5;
const SPS: u8 = 7;

fuzz_target!(|payload: &[u8]| {
    let ours = h264_starts_keyframe(payload);
    let theirs = detect_h264_nalu(payload, IDR) || detect_h264_nalu(payload, SPS);
    assert_eq!(ours, theirs, "keyframe start of {payload:02x?}");
});
