//! A Matroska stream written as it comes: one video track (VP8, or H.264
//! with its `avcC`) and a few Opus audio tracks — the live feed's pipe to
//! ffmpeg, and a recording's H.264 track made into a file ffmpeg can time.
//! The segment has an unknown size (it is never finished); each cluster is
//! written whole, with its size, so a reader never waits inside one and a
//! file cut short plays up to its last cluster.

use std::io::{self, Write};

/// Matroska element ids used here.
mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

/// An element's id, as its bytes (the id carries its own length).
fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// A size as an EBML variable-length integer, in as few bytes as it takes.
fn put_size(out: &mut Vec<u8>, size: u64) {
    let len = (1..=8).find(|l| size < (1u64 << (7 * l)) - 1).unwrap_or(8);
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len as usize..]);
}

fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    element(out, id, &bytes[skip..]);
}

fn text(out: &mut Vec<u8>, id: u32, value: &str) {
    element(out, id, value.as_bytes());
}

fn master(out: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    fill(&mut body);
    element(out, id, &body);
}

/// The `OpusHead` a Matroska Opus track carries as its codec private data.
fn opus_head() -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // mono: a meeting's voices
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // gain
    head.push(0); // mapping family
    head
}

/// One block to write: track (1: video, 2..: audio), time (ms), keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Track number.
    pub track: u8,
    /// Presentation time, ms from the stream's start.
    pub at: u64,
    /// A video keyframe (audio blocks are all keyframes).
    pub keyframe: bool,
    /// The codec's frame.
    pub data: Vec<u8>,
}

/// The video track's codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Video {
    /// VP8 (`V_VP8`).
    Vp8,
    /// H.264 (`V_MPEG4/ISO/AVC`): its `avcC` record, and blocks of NAL
    /// units each prefixed with its 4-byte length; without a record (empty),
    /// blocks in Annex B with the parameter sets in band (ffmpeg reads both).
    H264(Vec<u8>),
}

/// The stream's writer.
pub struct Mkv<W: Write> {
    out: W,
    /// Time of the last block written (blocks never go back in time).
    last: u64,
}

impl<W: Write> Mkv<W> {
    /// Writes the header: a VP8 track (number 1; `size` is nominal, the
    /// decoder reads each keyframe's own) and `audio` Opus tracks (2…).
    pub fn new(out: W, size: (u32, u32), audio: u8) -> io::Result<Self> {
        Self::with_video(out, size, &Video::Vp8, audio)
    }

    /// As [`Mkv::new`], with the video track's codec.
    pub fn with_video(mut out: W, size: (u32, u32), video: &Video, audio: u8) -> io::Result<Self> {
        let mut b = Vec::new();
        master(&mut b, id::EBML, |e| {
            uint(e, id::EBML_VERSION, 1);
            uint(e, id::EBML_READ_VERSION, 1);
            uint(e, id::EBML_MAX_ID_LENGTH, 4);
            uint(e, id::EBML_MAX_SIZE_LENGTH, 8);
            text(e, id::DOC_TYPE, "webm");
            uint(e, id::DOC_TYPE_VERSION, 2);
            uint(e, id::DOC_TYPE_READ_VERSION, 2);
        });
        put_id(&mut b, id::SEGMENT);
        b.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // unknown size
        master(&mut b, id::INFO, |e| {
            uint(e, id::TIMESTAMP_SCALE, 1_000_000); // ms
            text(e, id::MUXING_APP, "huiyi");
            text(e, id::WRITING_APP, "huiyi");
        });
        master(&mut b, id::TRACKS, |e| {
            master(e, id::TRACK_ENTRY, |t| {
                uint(t, id::TRACK_NUMBER, 1);
                uint(t, id::TRACK_UID, 1);
                uint(t, id::TRACK_TYPE, 1);
                uint(t, id::FLAG_LACING, 0);
                match video {
                    Video::Vp8 => text(t, id::CODEC_ID, "V_VP8"),
                    Video::H264(avcc) => {
                        text(t, id::CODEC_ID, "V_MPEG4/ISO/AVC");
                        if !avcc.is_empty() {
                            element(t, id::CODEC_PRIVATE, avcc);
                        }
                    }
                }
                master(t, id::VIDEO, |v| {
                    uint(v, id::PIXEL_WIDTH, u64::from(size.0));
                    uint(v, id::PIXEL_HEIGHT, u64::from(size.1));
                });
            });
            for n in 0..audio {
                master(e, id::TRACK_ENTRY, |t| {
                    uint(t, id::TRACK_NUMBER, u64::from(n) + 2);
                    uint(t, id::TRACK_UID, u64::from(n) + 2);
                    uint(t, id::TRACK_TYPE, 2);
                    uint(t, id::FLAG_LACING, 0);
                    text(t, id::CODEC_ID, "A_OPUS");
                    element(t, id::CODEC_PRIVATE, &opus_head());
                    master(t, id::AUDIO, |a| {
                        let mut f = Vec::new();
                        element(&mut f, id::SAMPLING_FREQUENCY, &48_000f64.to_be_bytes());
                        a.extend_from_slice(&f);
                        uint(a, id::CHANNELS, 1);
                    });
                });
            }
        });
        out.write_all(&b)?;
        out.flush()?;
        Ok(Mkv { out, last: 0 })
    }

    /// The writer, to flush or take back.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes `blocks` (in time order) as one cluster. A block earlier
    /// than one already written is written at that time instead.
    pub fn cluster(&mut self, blocks: &[Block]) -> io::Result<()> {
        let Some(first) = blocks.first() else { return Ok(()) };
        let base = first.at.max(self.last);
        let mut body = Vec::new();
        uint(&mut body, id::TIMESTAMP, base);
        for block in blocks {
            let at = block.at.max(self.last).max(base);
            // A cluster spans at most ~32 s (a 16-bit offset); blocks
            // come every 20 ms.
            let offset = (at - base).min(i16::MAX as u64) as i16;
            self.last = at;
            put_id(&mut body, id::SIMPLE_BLOCK);
            put_size(&mut body, 4 + block.data.len() as u64);
            body.push(0x80 | block.track); // track number as a 1-byte vint
            body.extend_from_slice(&offset.to_be_bytes());
            body.push(if block.keyframe { 0x80 } else { 0 });
            body.extend_from_slice(&block.data);
        }
        let mut b = Vec::with_capacity(body.len() + 12);
        element(&mut b, id::CLUSTER, &body);
        self.out.write_all(&b)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_variable_length_integers() {
        let mut v = Vec::new();
        put_size(&mut v, 5);
        assert_eq!(v, [0x85]);
        v.clear();
        put_size(&mut v, 127); // 0x7F alone would mean "unknown"
        assert_eq!(v, [0x40, 0x7F]);
        v.clear();
        put_size(&mut v, 300);
        assert_eq!(v, [0x41, 0x2C]);
        v.clear();
        put_id(&mut v, id::CLUSTER);
        assert_eq!(v, [0x1F, 0x43, 0xB6, 0x75]);
    }

    #[test]
    fn blocks_never_go_back_in_time() {
        let mut m = Mkv::new(Vec::new(), (640, 360), 1).expect("header");
        let head = m.out.len();
        let blocks = [
            Block { track: 2, at: 100, keyframe: true, data: vec![0xF8, 0xFF, 0xFE] },
            Block { track: 1, at: 90, keyframe: false, data: vec![1, 2] },
        ];
        m.cluster(&blocks).expect("cluster");
        let c = &m.out[head..];
        assert_eq!(&c[..4], &[0x1F, 0x43, 0xB6, 0x75]);
        // Timestamp 100, then the first block at offset 0, the second
        // (earlier) at offset 0 too.
        let body = &c[5..];
        assert_eq!(&body[..3], &[0xE7, 0x81, 100]);
        assert_eq!(&body[3..9], &[0xA3, 0x87, 0x82, 0, 0, 0x80]);
        assert_eq!(&body[12..18], &[0xA3, 0x86, 0x81, 0, 0, 0]);
        assert_eq!(m.last, 100);
    }
}
