//! Join tokens: signed, expiring, bound to one meeting, one participant and
//! one role. Format: `base64url(claims JSON) "." base64url(HMAC-SHA256)`,
//! keyed by a secret kept in the data directory (`secret.key`, created on
//! first use, readable by the server's user only).

use std::path::Path;

use aws_lc_rs::{hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A participant's role in a live meeting (a protocol word).
pub use huiyi_protocol::Role;

/// What a join token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Meeting id.
    pub m: String,
    /// Meeting title.
    pub t: String,
    /// Participant id, unique within the meeting.
    pub p: String,
    /// Display name.
    pub n: String,
    /// Role.
    pub r: Role,
    /// Not valid before (Unix seconds).
    pub nbf: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
    /// The link's epoch: re-issuing a participant's link bumps it, and a
    /// join with an older one is refused (absent in links never re-issued).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub e: u64,
}

fn is_zero(e: &u64) -> bool {
    *e == 0
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all.
    #[error("the join link is damaged (not a Huiyi token)")]
    Malformed,
    /// The signature does not match: forged or from another server.
    #[error("the join link was not issued by this server")]
    BadSignature,
    /// Used before its join window opens.
    #[error("the meeting cannot be joined yet")]
    NotYetValid,
    /// Expired.
    #[error("the join link has expired")]
    Expired,
}

/// The signing key.
#[derive(Clone)]
pub struct Signer {
    key: hmac::Key,
}

impl Signer {
    /// A signer from raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, bytes) }
    }

    /// Loads `secret.key` from the data directory, creating it if missing.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join("secret.key");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => return Ok(Self::from_bytes(&bytes)),
            Ok(_) => {
                return Err(std::io::Error::other(format!("{} is shorter than 32 bytes", path.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(data_dir)?;
        let bytes = random_bytes::<32>();
        let tmp = data_dir.join("secret.key.tmp");
        write_private(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Loads `secret.key` from a server's data directory; never creates it.
    pub fn load_existing(data_dir: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(data_dir.join("secret.key"))?;
        if bytes.len() < 32 {
            return Err(std::io::Error::other("secret.key is shorter than 32 bytes"));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Verifies a token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let claims = self.decode(token)?;
        if now < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Verifies a token for its notice page: before the join window opens is
    /// fine (that is when notices are read), after it expired is not.
    pub fn verify_notice(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let claims = self.decode(token)?;
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// A keyed tag of `data` (for capability URLs such as calendar feeds).
    pub fn tag(&self, data: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, data.as_bytes()).as_ref())
    }

    /// Whether `tag` is [`Signer::tag`] of `data` (constant time).
    pub fn check_tag(&self, data: &str, tag: &str) -> bool {
        URL_SAFE_NO_PAD.decode(tag).is_ok_and(|t| hmac::verify(&self.key, data.as_bytes(), &t).is_ok())
    }

    /// Checks the signature and reads the claims.
    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let (body, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
    }
}

/// Cryptographically random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out).expect("the system random source works");
    out
}

/// A random URL-safe id of `n` bytes of entropy.
pub fn random_id(n: usize) -> String {
    let bytes = random_bytes::<32>();
    URL_SAFE_NO_PAD.encode(&bytes[..n.min(32)])
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            m: "m1".into(),
            t: "周例会".into(),
            p: "p1".into(),
            n: "张三".into(),
            r: Role::Venue,
            nbf: 100,
            exp: 200,
            e: 0,
        }
    }

    #[test]
    fn round_trip_and_window() {
        let s = Signer::from_bytes(&[7; 32]);
        let token = s.sign(&claims());
        assert_eq!(s.verify(&token, 150), Ok(claims()));
        assert_eq!(s.verify(&token, 99), Err(TokenError::NotYetValid));
        assert_eq!(s.verify(&token, 200), Err(TokenError::Expired));
    }

    #[test]
    fn forged_and_damaged_tokens_are_refused() {
        let s = Signer::from_bytes(&[7; 32]);
        let other = Signer::from_bytes(&[8; 32]);
        let token = s.sign(&claims());
        assert_eq!(other.verify(&token, 150), Err(TokenError::BadSignature));
        // Changing the role in the body breaks the signature.
        let mut c = claims();
        c.r = Role::Chair;
        let forged = format!(
            "{}.{}",
            s.sign(&c).split('.').next().expect("body"),
            token.split('.').nth(1).expect("tag")
        );
        assert_eq!(s.verify(&forged, 150), Err(TokenError::BadSignature));
        for junk in ["", "abc", "a.b", "....", "eyJ9.%%%"] {
            assert!(s.verify(junk, 150).is_err(), "{junk}");
        }
    }

    #[test]
    fn secret_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("huiyi-secret-{}", std::process::id()));
        let a = Signer::load_or_create(&dir).expect("create");
        let b = Signer::load_or_create(&dir).expect("load");
        let token = a.sign(&claims());
        assert!(b.verify(&token, 150).is_ok(), "the same key after a restart");
        std::fs::remove_dir_all(&dir).ok();
    }
}
