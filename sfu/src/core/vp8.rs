//! Reading the VP8 RTP payload descriptor (RFC 7741 §4.2): the fields an SFU
//! rewrites (PictureID, TL0PICIDX) and whether a packet starts a keyframe.
//!
//! Input comes from the network, so every length is checked; a short or odd
//! descriptor gives `None`, never a panic.

/// The rewritable fields of one VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Fields {
    /// PictureID and whether it uses the 15-bit form.
    pub picture_id: Option<(u16, bool)>,
    /// TL0PICIDX.
    pub tl0_pic_idx: Option<u8>,
    /// The packet is the first of a keyframe (S=1, PID=0, P=0).
    pub starts_keyframe: bool,
    /// The packet is the first of a frame (S=1, PID=0).
    pub starts_frame: bool,
    /// The temporal layer (TID), when the descriptor carries one (T=1).
    pub temporal: Option<u8>,
    /// Layer sync (Y): the frame depends on the base temporal layer only,
    /// so a receiver may start taking its layer here.
    pub layer_sync: bool,
}

/// Parses the descriptor at the start of a VP8 RTP payload.
pub fn parse(payload: &[u8]) -> Option<Vp8Fields> {
    read(payload).map(|(fields, ..)| fields)
}

/// Where the VP8 data of a payload begins (after the descriptor), and
/// whether the packet starts a frame (S=1, PID=0): what a depacketizer
/// needs. `None` for a short or odd descriptor.
pub fn frame_data(payload: &[u8]) -> Option<(usize, bool)> {
    read(payload).map(|(_, at, starts)| (at, starts))
}

fn read(payload: &[u8]) -> Option<(Vp8Fields, usize, bool)> {
    let first = *payload.first()?;
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let pid = first & 0x07;
    let mut at = 1;
    let mut fields = Vp8Fields::default();
    if extended {
        let ext = *payload.get(at)?;
        at += 1;
        let has_i = ext & 0x80 != 0;
        let has_l = ext & 0x40 != 0;
        let has_t = ext & 0x20 != 0;
        let has_k = ext & 0x10 != 0;
        if has_i {
            let b = *payload.get(at)?;
            if b & 0x80 != 0 {
                let lo = *payload.get(at + 1)?;
                fields.picture_id = Some(((u16::from(b & 0x7f) << 8) | u16::from(lo), true));
                at += 2;
            } else {
                fields.picture_id = Some((u16::from(b), false));
                at += 1;
            }
        }
        if has_l {
            fields.tl0_pic_idx = Some(*payload.get(at)?);
            at += 1;
        }
        if has_t || has_k {
            let b = *payload.get(at)?;
            if has_t {
                fields.temporal = Some(b >> 6);
                fields.layer_sync = b & 0x20 != 0;
            }
            at += 1;
        }
    }
    let vp8_header = *payload.get(at)?;
    fields.starts_keyframe = start && pid == 0 && vp8_header & 0x01 == 0;
    fields.starts_frame = start && pid == 0;
    Some((fields, at, start && pid == 0))
}

/// True when an H.264 RTP payload starts an IDR frame (or carries SPS, which
/// precedes one): single NAL unit, STAP-A, or the first FU-A fragment.
pub fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        5 | 7 => true,
        24 => {
            // STAP-A: 16-bit size, then a NAL unit of that size, repeated; a
            // unit whose size runs past the payload is not there.
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                if at + 2 + size > payload.len() {
                    return false;
                }
                let Some(&nal) = payload.get(at + 2) else {
                    return false;
                };
                if matches!(nal & 0x1f, 5 | 7) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        28 => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && matches!(fu & 0x1f, 5 | 7)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_15_bit_picture_id_and_keyframe() {
        // X=1 S=1 PID=0 | I=1 L=1 | M=1 picture id 0x1234 | tl0 7 | VP8 header P=0
        let p = [0x90, 0xc0, 0x80 | 0x12, 0x34, 7, 0x00, 1, 2];
        let f = parse(&p).expect("valid");
        assert_eq!(f.picture_id, Some((0x1234, true)));
        assert_eq!(f.tl0_pic_idx, Some(7));
        assert!(f.starts_keyframe);
    }

    #[test]
    fn temporal_layer_and_layer_sync() {
        // X=1 S=1 | I=1 T=1 | picture id 5 | TID 2, Y=1, KEYIDX 0 | VP8 header P=1
        let f = parse(&[0x90, 0xa0, 0x05, 0b1010_0000, 0x01]).expect("valid");
        assert_eq!(
            (f.temporal, f.layer_sync, f.starts_frame, f.starts_keyframe),
            (Some(2), true, true, false)
        );
        // T=0, K=1: the byte is there but carries no TID.
        let f = parse(&[0x80, 0x90, 0x05, 0b1100_0011, 0x01]).expect("valid");
        assert_eq!((f.temporal, f.layer_sync, f.starts_frame), (None, false, false));
        // A continuation of a TL1 frame.
        let f = parse(&[0x80, 0x20, 0b0100_0000, 0x00]).expect("valid");
        assert_eq!((f.temporal, f.starts_frame), (Some(1), false));
    }

    #[test]
    fn interframe_and_continuation_are_not_keyframes() {
        assert!(!parse(&[0x90, 0x80, 0x05, 0x01]).expect("valid").starts_keyframe);
        assert!(!parse(&[0x80, 0x80, 0x05, 0x00]).expect("valid").starts_keyframe);
    }

    #[test]
    fn truncated_descriptors_are_none() {
        for p in [&[][..], &[0x90], &[0x90, 0x80], &[0x90, 0x80, 0x80], &[0x90, 0xc0, 0x05]] {
            assert_eq!(parse(p), None, "{p:?}");
        }
    }

    #[test]
    fn h264_keyframes() {
        assert!(h264_starts_keyframe(&[0x65, 0]));
        assert!(h264_starts_keyframe(&[0x7c, 0x85]));
        assert!(!h264_starts_keyframe(&[0x7c, 0x05]));
        assert!(h264_starts_keyframe(&[0x78, 0, 2, 0x67, 0, 0, 1, 0x68]));
        assert!(!h264_starts_keyframe(&[0x41]));
        assert!(!h264_starts_keyframe(&[0x78, 0xff, 0xff]));
    }

    #[test]
    fn h264_stap_a_unit_running_past_the_payload_is_not_read() {
        // Found by fuzz/fuzz_targets/h264.rs: a STAP-A unit of 219 bytes in a
        // 4-byte payload; its "header" (0x25, an IDR) was taken for a keyframe.
        assert!(!h264_starts_keyframe(&[0x78, 0x00, 0xdb, 0x25]));
        assert!(h264_starts_keyframe(&[0x78, 0x00, 0x01, 0x25]), "the same unit, whole");
    }
}
