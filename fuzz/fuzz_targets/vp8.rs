//! The VP8 payload descriptor (RFC 7741) as the forwarding path reads it
//! (`huiyi_sfu::core::vp8::parse`), against str0m's independent reader,
//! whose descriptor the engine patches with rewritten picture ids.
//!
//! Holds: the two agree on whether a payload is long enough, on the
//! picture id, TL0PICIDX and keyframe start (str0m also refuses TL0PICIDX
//! without a temporal layer index, which the SFU reads leniently); nothing
//! panics.

#![no_main]

use huiyi_sfu::core::vp8;
use libfuzzer_sys::fuzz_target;
use str0m::rtp::Vp8Descriptor;

fuzz_target!(|payload: &[u8]| {
    let ours = vp8::parse(payload);
    let extended = payload.first().is_some_and(|b| b & 0x80 != 0);
    // L (TL0PICIDX) without T: str0m calls it malformed, the SFU reads on.
    let lenient = extended && payload.get(1).is_some_and(|x| x & 0x40 != 0 && x & 0x20 == 0);
    match (ours, Vp8Descriptor::parse(payload)) {
        (Some(f), Ok(d)) => {
            assert_eq!(f.picture_id.map(|(id, _)| id), d.picture_id(), "picture id");
            if let Some((id, long)) = f.picture_id {
                assert!(id < if long { 0x8000 } else { 0x80 }, "the picture id fits its form");
            }
            assert_eq!(f.tl0_pic_idx, d.tl0_pic_idx(), "TL0PICIDX");
            assert_eq!(f.starts_keyframe, d.starts_keyframe(payload), "keyframe start");
            assert_eq!(f.starts_keyframe, str0m::format::detect_vp8_keyframe(payload), "keyframe start");
        }
        (None, Err(_)) => {}
        (Some(_), Err(_)) => assert!(lenient, "the SFU reads a descriptor str0m refuses"),
        (None, Ok(_)) => panic!("the SFU refuses a descriptor str0m reads"),
    }
    if let Some(f) = ours {
        if f.starts_keyframe {
            assert!(payload[0] & 0x10 != 0 && payload[0] & 0x07 == 0, "a keyframe starts partition 0");
        }
    }
});
