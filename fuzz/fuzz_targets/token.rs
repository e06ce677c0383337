//! Join tokens: hostile strings where a join link's token goes, and, past
//! the signature, hostile bodies (signed with the server's key, as if the
//! key had leaked or the signer had a bug) so that the claims parser is
//! reached at all.
//!
//! Input: the first byte picks the mode: 0 the text is the token; 1 the
//! text is a token body, signed; 2 the bytes are the claims, encoded and
//! signed; 3 the text is a calendar feed key (`id.tag`).
//!
//! Holds: a forged token is refused; what verifies re-signs to the same
//! claims and lies within its window; nothing panics.

#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use huiyi_signaling::token::{Signer, TokenError};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

/// `signed`: whether `token` carries the key's signature, if known.
fn check(signer: &Signer, token: &str, signed: Option<bool>) {
    for now in [0, NOW, u64::MAX] {
        match signer.verify(token, now) {
            Ok(claims) => {
                assert_ne!(signed, Some(false), "a token not signed with the key verified: {token:?}");
                assert!(claims.nbf <= now && now < claims.exp, "outside its window");
                assert_eq!(signer.verify(&signer.sign(&claims), now), Ok(claims), "re-signed");
            }
            Err(TokenError::BadSignature) => assert_ne!(signed, Some(true), "our own signature refused"),
            Err(_) => {}
        }
        if let Ok(claims) = signer.verify_notice(token, now) {
            assert!(now < claims.exp);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let signer = Signer::from_bytes(&[7; 32]);
    let text = String::from_utf8_lossy(rest);
    match mode % 4 {
        0 => {
            check(&signer, &text, None);
            // Whatever verifies under one key is refused under another.
            let other = Signer::from_bytes(&[8; 32]);
            check(&other, &text, Some(false));
        }
        1 => {
            let token = format!("{text}.{}", signer.tag(&text));
            // A body with a dot in it splits elsewhere: then the signature is not ours.
            check(&signer, &token, Some(!text.contains('.')));
        }
        2 => {
            let body = URL_SAFE_NO_PAD.encode(rest);
            let token = format!("{body}.{}", signer.tag(&body));
            check(&signer, &token, Some(true));
        }
        _ => {
            if let Some((id, tag)) = text.split_once('.') {
                let data = format!("feed:{id}");
                assert_eq!(signer.check_tag(&data, tag), signer.tag(&data) == tag, "only our tag passes");
            }
        }
    }
});
