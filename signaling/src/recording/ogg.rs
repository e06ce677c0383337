//! Ogg Opus (RFC 7845) written as packets arrive: an `OpusHead` and an
//! `OpusTags` page, then audio pages whose granule positions follow the RTP
//! timestamps (48 kHz). A gap (loss, a muted or silent microphone whose
//! packets stopped) is filled with empty Opus frames, which a decoder
//! conceals, so the file's timeline stays the meeting's. Every page is
//! complete on its own: a file cut by a crash plays up to its last page.

use std::io::{self, Write};

/// Samples (48 kHz) in one Opus packet, from its TOC byte (RFC 6716 §3.1);
/// `None` for an empty or malformed packet.
pub fn opus_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = per_frame * frames;
    // At most 120 ms per packet (RFC 6716 §3.2.5).
    (frames > 0 && total <= 5760).then_some(total)
}

/// An empty 20 ms CELT frame: the decoder conceals it.
const CONCEALED: [u8; 1] = [0xf8];
/// Packets gathered on one page (at most 255 lacing values).
const PAGE_PACKETS: usize = 50;

/// The writer of one Ogg Opus stream.
pub struct OggOpus<W: Write> {
    out: W,
    serial: u32,
    sequence: u32,
    /// Position (48 kHz samples) after the last packet queued.
    position: u64,
    page: Vec<u8>,
    lacing: Vec<u8>,
    pending: usize,
    /// Bytes written so far.
    pub bytes: u64,
}

impl<W: Write> OggOpus<W> {
    /// Starts a stream: writes its two header pages.
    pub fn new(out: W, serial: u32, title: &str) -> io::Result<Self> {
        let mut w = OggOpus {
            out,
            serial,
            sequence: 0,
            position: 0,
            page: Vec::new(),
            lacing: Vec::new(),
            pending: 0,
            bytes: 0,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels: meeting voice, mono
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family
        w.write_page(&head, 0x02, 0)?;
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        let vendor = b"huiyi";
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        let comment = format!("TITLE={title}");
        tags.extend_from_slice(&1u32.to_le_bytes());
        tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        tags.extend_from_slice(comment.as_bytes());
        w.write_page(&tags, 0, 0)?;
        Ok(w)
    }

    /// Queues one packet that starts at `at` (samples since the stream's
    /// start). A packet before the current position (a late duplicate) is
    /// dropped; a gap before it is concealed. False if dropped.
    pub fn packet(&mut self, at: u64, packet: &[u8]) -> io::Result<bool> {
        let Some(samples) = opus_samples(packet) else { return Ok(false) };
        if at + 480 < self.position || packet.len() > 255 * 20 {
            return Ok(false);
        }
        while at >= self.position + 960 {
            self.queue(&CONCEALED, 960)?;
        }
        self.queue(packet, u64::from(samples))?;
        Ok(true)
    }

    /// Position after the last packet (48 kHz samples).
    #[cfg(test)]
    pub fn position(&self) -> u64 {
        self.position
    }

    fn queue(&mut self, packet: &[u8], samples: u64) -> io::Result<()> {
        let mut left = packet.len();
        loop {
            let n = left.min(255);
            self.lacing.push(n as u8);
            left -= n;
            if n < 255 {
                break;
            }
        }
        self.page.extend_from_slice(packet);
        self.position += samples;
        self.pending += 1;
        if self.pending >= PAGE_PACKETS || self.lacing.len() > 200 {
            self.flush_page(0)?;
        }
        Ok(())
    }

    /// Writes the packets queued as a page (every second, and at the end).
    pub fn flush_page(&mut self, flags: u8) -> io::Result<()> {
        if self.pending == 0 && flags == 0 {
            return Ok(());
        }
        let (page, lacing) = (std::mem::take(&mut self.page), std::mem::take(&mut self.lacing));
        self.pending = 0;
        self.write_laced(&page, &lacing, flags, self.position)
    }

    /// Ends the stream (an end-of-stream page) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_page(0x04)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The underlying writer (to flush it).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn write_page(&mut self, packet: &[u8], flags: u8, granule: u64) -> io::Result<()> {
        let mut lacing = Vec::new();
        let mut left = packet.len();
        loop {
            let n = left.min(255);
            lacing.push(n as u8);
            left -= n;
            if n < 255 {
                break;
            }
        }
        self.write_laced(packet, &lacing, flags, granule)
    }

    fn write_laced(&mut self, data: &[u8], lacing: &[u8], flags: u8, granule: u64) -> io::Result<()> {
        let mut page = Vec::with_capacity(27 + lacing.len() + data.len());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.sequence.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(lacing);
        page.extend_from_slice(data);
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
        self.bytes += page.len() as u64;
        self.out.write_all(&page)
    }
}

/// The Ogg CRC: polynomial 0x04c11db7, no reflection, zero start.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toc_says_how_long_a_packet_is() {
        assert_eq!(opus_samples(&[0xf8, 1, 2]), Some(960), "CELT FB 20 ms");
        assert_eq!(opus_samples(&[0x78]), Some(960), "SILK WB 20 ms");
        assert_eq!(opus_samples(&[0x79]), Some(1920), "two 20 ms frames");
        assert_eq!(opus_samples(&[0x7b, 0x03]), Some(2880), "code 3: three frames");
        assert_eq!(opus_samples(&[0x7b, 0x3f]), None, "more than 120 ms");
        assert_eq!(opus_samples(&[]), None);
    }

    #[test]
    fn the_crc_is_ogg_s() {
        // "OggS" page checksum reference: CRC of the empty input and a known vector.
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn pages_follow_the_timeline_and_gaps_are_concealed() {
        let mut w = OggOpus::new(Vec::new(), 7, "例会").expect("new");
        assert!(w.packet(0, &[0xf8, 9, 9]).expect("write"));
        assert!(w.packet(960, &[0xf8, 9, 9]).expect("write"));
        // 100 ms missing: five concealed frames, then the packet.
        assert!(w.packet(960 * 7, &[0xf8, 9, 9]).expect("write"));
        assert_eq!(w.position(), 960 * 8);
        assert!(!w.packet(960, &[0xf8, 1]).expect("write"), "a late duplicate is dropped");
        let bytes = w.finish().expect("finish");
        let pages: Vec<usize> =
            bytes.windows(4).enumerate().filter(|(_, x)| x == b"OggS").map(|(i, _)| i).collect();
        assert_eq!(pages.len(), 3, "head, tags, one audio page");
        let last = pages[2];
        assert_eq!(bytes[last + 5], 0x04, "end of stream");
        let granule = u64::from_le_bytes(bytes[last + 6..last + 14].try_into().expect("8 bytes"));
        assert_eq!(granule, 960 * 8);
        assert_eq!(bytes[last + 26], 8, "eight packets laced");
    }
}
