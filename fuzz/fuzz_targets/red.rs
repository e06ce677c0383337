//! RFC 2198 redundant audio: the primary block as the SFU unwraps it for
//! subscribers without RED (`huiyi_sfu::core::red::primary`), against
//! str0m's independent decoder.
//!
//! Holds: whatever str0m decodes, the SFU finds the same primary block;
//! what the SFU unwraps is a suffix of the payload, and str0m agrees
//! unless the payload has more redundant blocks than str0m allows;
//! nothing panics.

#![no_main]

use huiyi_sfu::core::red;
use libfuzzer_sys::fuzz_target;
use str0m::rtp::RedDecoder;

fuzz_target!(|payload: &[u8]| {
    let ours = red::primary(payload);
    if let Some(primary) = ours {
        assert!(payload.ends_with(primary), "the primary block is the payload's end");
    }
    match RedDecoder::decode(payload) {
        Ok(blocks) => {
            let primary = blocks.last().expect("str0m returns the primary block last");
            assert!(primary.is_primary);
            assert_eq!(ours, Some(primary.payload), "the same primary block");
        }
        Err(_) => {
            // str0m refuses more than 32 redundant blocks; the SFU only
            // skips them, so it need not.
            if ours.is_some() {
                let redundant = payload.iter().step_by(4).take_while(|b| *b & 0x80 != 0).count();
                assert!(redundant > 32, "the SFU unwraps a payload str0m refuses: {payload:02x?}");
            }
        }
    }
});
