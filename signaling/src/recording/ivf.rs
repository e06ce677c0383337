//! IVF, the plain VP8 container every tool opens (ffmpeg, libvpx): a
//! 32-byte file header, then each frame with its size and timestamp
//! (90 kHz, the RTP clock). The file starts at a keyframe, whose header
//! gives the picture size. The header's length field holds the duration in
//! time-base units, as ffmpeg writes and reads it (libvpx calls it a frame
//! count and does not rely on it); it is brought up to date at every flush,
//! so a file cut by a crash says how long it is up to its last flush.

use std::io::{self, Seek, SeekFrom, Write};

/// Width and height from a VP8 keyframe (RFC 6386 §9.1), if it is one.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w, h))
}

/// The writer of one IVF file.
pub struct Ivf<W: Write + Seek> {
    out: W,
    /// Frames written.
    pub frames: u32,
    /// Bytes written.
    pub bytes: u64,
    last_pts: u64,
}

impl<W: Write + Seek> Ivf<W> {
    /// Starts a file for frames of `size` in `fourcc` (`VP80`).
    pub fn new(mut out: W, fourcc: &[u8; 4], size: (u16, u16)) -> io::Result<Self> {
        out.write_all(&header(fourcc, size, 0))?;
        Ok(Ivf { out, frames: 0, bytes: 32, last_pts: 0 })
    }

    /// Appends one frame at `pts` (90 kHz since the file's start).
    pub fn frame(&mut self, pts: u64, data: &[u8]) -> io::Result<()> {
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(&pts.to_le_bytes())?;
        self.out.write_all(data)?;
        self.frames += 1;
        self.bytes += 12 + data.len() as u64;
        self.last_pts = pts;
        Ok(())
    }

    /// The duration (90 kHz): the last frame's time plus one frame.
    fn length(&self) -> u32 {
        match self.frames {
            0 | 1 => 0,
            n => (self.last_pts + self.last_pts / u64::from(n - 1)).min(u64::from(u32::MAX)) as u32,
        }
    }

    /// Writes the length into the header (and flushes).
    pub fn update_length(&mut self) -> io::Result<()> {
        self.out.seek(SeekFrom::Start(24))?;
        self.out.write_all(&self.length().to_le_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()
    }

    /// Fills in the length and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.update_length()?;
        Ok(self.out)
    }
}

fn header(fourcc: &[u8; 4], (w, h): (u16, u16), length: u32) -> [u8; 32] {
    let mut hd = [0u8; 32];
    hd[0..4].copy_from_slice(b"DKIF");
    hd[6..8].copy_from_slice(&32u16.to_le_bytes());
    hd[8..12].copy_from_slice(fourcc);
    hd[12..14].copy_from_slice(&w.to_le_bytes());
    hd[14..16].copy_from_slice(&h.to_le_bytes());
    hd[16..20].copy_from_slice(&90_000u32.to_le_bytes());
    hd[20..24].copy_from_slice(&1u32.to_le_bytes());
    hd[24..28].copy_from_slice(&length.to_le_bytes());
    hd
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_640X360: [u8; 10] = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];

    #[test]
    fn a_keyframe_gives_the_size_and_others_do_not() {
        assert_eq!(vp8_keyframe_size(&KEY_640X360), Some((640, 360)));
        let mut inter = KEY_640X360;
        inter[0] |= 1;
        assert_eq!(vp8_keyframe_size(&inter), None);
        assert_eq!(vp8_keyframe_size(&KEY_640X360[..6]), None);
    }

    #[test]
    fn frames_follow_the_header_and_the_length_is_filled_in() {
        let mut w = Ivf::new(std::io::Cursor::new(Vec::new()), b"VP80", (640, 360)).expect("new");
        w.frame(0, &KEY_640X360).expect("frame");
        w.frame(3000, &[1, 2, 3]).expect("frame");
        let bytes = w.finish().expect("finish").into_inner();
        assert_eq!(&bytes[0..4], b"DKIF");
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().expect("4")), 6000, "two frames of 3000");
        assert_eq!(bytes.len(), 32 + 12 + 10 + 12 + 3);
        assert_eq!(
            u64::from_le_bytes(bytes[32 + 12 + 10 + 4..32 + 12 + 10 + 12].try_into().expect("8")),
            3000
        );
    }
}
