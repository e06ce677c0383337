//! What the fuzz targets share: a reader for their binary inputs, the
//! record format of the text ones, and a real browser offer.
//!
//! Each target in `fuzz_targets/` feeds one parser of outside input with
//! what libFuzzer makes and checks what must hold whatever the input: no
//! panic (libFuzzer's panic hook aborts even on a panic that the engine
//! catches), and where the parser has an inverse, a round trip.

/// A Chrome offer as Huiyi's client makes it: sendonly microphone and
/// camera with three simulcast layers (`q`, `h`, `f`), every codec Chrome
/// lists, bundled on one transport.
pub const CHROME_OFFER: &str = include_str!("chrome_offer.sdp");

/// Reads a fuzz input from the front.
#[derive(Debug, Clone)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One byte (0 once the input is used up).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// A big-endian u16 (missing bytes are 0).
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// A big-endian u32 (missing bytes are 0).
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A big-endian i64 (missing bytes are 0).
    pub fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        i64::from_be_bytes(b)
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// A record: a big-endian u16 length, then that many bytes (or what is left).
    pub fn record(&mut self) -> &'a [u8] {
        let n = self.u16();
        self.take(usize::from(n))
    }
}

/// The text targets' records: separated by the ASCII record separator
/// (0x1e), their fields by the unit separator (0x1f), so that a field may
/// hold anything else, line breaks included.
pub fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.split('\u{1e}').map(|r| r.split('\u{1f}').collect())
}

/// Field `i` of a record, or "".
pub fn field<'a>(record: &[&'a str], i: usize) -> &'a str {
    record.get(i).copied().unwrap_or("")
}

/// A number in a text field, or 0.
pub fn number<T: std::str::FromStr + Default>(record: &[&str], i: usize) -> T {
    field(record, i).trim().parse().unwrap_or_default()
}
