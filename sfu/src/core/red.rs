//! RFC 2198 redundant audio (RED): browsers wrap each Opus packet with a copy
//! of the previous one, so a receiver that loses one packet in a row rebuilds
//! it from the next. The SFU passes RED through to subscribers that
//! negotiated it, and unwraps it to the primary block for those that did not.
//!
//! Payload layout: a 4-byte header per redundant block (F=1, block PT, 14-bit
//! timestamp offset, 10-bit length), then a 1-byte header for the primary
//! block (F=0, PT), then the redundant blocks' data, then the primary's.

/// The primary (newest) block of a RED payload, or `None` if the payload is
/// malformed (headers or lengths running past its end).
pub fn primary(payload: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    let mut redundant = 0usize;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            at += 1; // the primary's 1-byte header
            break;
        }
        let header = payload.get(at..at + 4)?;
        redundant += (usize::from(header[2] & 0x03) << 8) | usize::from(header[3]);
        at += 4;
    }
    payload.get(at.checked_add(redundant)?..)
}

#[cfg(test)]
mod tests {
    use super::primary;

    #[test]
    fn primary_only() {
        assert_eq!(primary(&[111, 1, 2, 3]), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn one_redundant_block() {
        // F=1 PT=111, offset 960, length 2; then primary header PT=111.
        let offset: u32 = 960;
        let len: u32 = 2;
        let word = (offset << 10) | len;
        let mut p = vec![0x80 | 111, (word >> 16) as u8, (word >> 8) as u8, word as u8, 111];
        p.extend_from_slice(&[9, 9]); // redundant data
        p.extend_from_slice(&[7, 7, 7]); // primary data
        assert_eq!(primary(&p), Some(&[7u8, 7, 7][..]));
    }

    #[test]
    fn malformed_is_none() {
        assert_eq!(primary(&[]), None);
        assert_eq!(primary(&[0x80 | 111, 0, 0]), None); // header cut short
        assert_eq!(primary(&[0x80 | 111, 0, 0x03, 0xff, 111, 1]), None); // length past the end
        assert_eq!(primary(&[0x80, 0, 0, 0]), None); // no primary header
    }
}
