//! A recorded H.264 track (Annex B, and its `.pts` file: each frame's time
//! at 90 kHz and size in bytes) made into Matroska for composing: ffmpeg
//! reads raw H.264 without times, so the recorder's go into a container.

use std::io::{self, BufRead, BufReader, BufWriter, Read};
use std::path::Path;

use crate::live::mkv::{Block, Mkv, Video};

/// The NAL units of Annex B data (start codes `00 00 01`, `00 00 00 01`).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                out.push(trim_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start.filter(|s| *s < data.len()) {
        out.push(trim_zeros(&data[s..]));
    }
    out.retain(|n| !n.is_empty());
    out
}

/// A NAL unit never ends in a zero byte: those belong to the next start code.
fn trim_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &nal[..end]
}

/// The `avcC` record (ISO 14496-15) of a stream with these parameter sets.
pub fn avcc(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || pps.is_empty() || sps.len() > 0xffff || pps.len() > 0xffff {
        return None;
    }
    let mut out = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    Some(out)
}

/// One frame's NAL units, each prefixed with its length; and whether it
/// is a keyframe (an IDR slice).
fn length_prefixed(frame: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(frame.len() + 16);
    let mut key = false;
    for nal in nal_units(frame) {
        key |= nal[0] & 0x1f == 5;
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    (out, key)
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Makes `h264` (with `pts`) into Matroska at `out`; the frames written.
/// The first frame must carry the parameter sets (the recorder starts a
/// file at a keyframe, and browsers send them with each one).
pub fn convert(h264: &Path, pts: &Path, out: &Path) -> io::Result<u64> {
    let mut data = BufReader::new(std::fs::File::open(h264)?);
    let mut frames = Vec::new();
    for line in BufReader::new(std::fs::File::open(pts)?).lines() {
        let line = line?;
        let mut parts = line.split_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(at)), Some(Ok(size))) if size <= 8 << 20 => frames.push((at, size as usize)),
            _ => return Err(invalid(format!("{}: a line is not `time size`: {line:?}", pts.display()))),
        }
    }
    let Some(&(first_at, first_size)) = frames.first() else { return Err(invalid("no frames")) };
    let mut first = vec![0; first_size];
    data.read_exact(&mut first)?;
    let units = nal_units(&first);
    let find = |t: u8| units.iter().find(|n| n[0] & 0x1f == t).copied();
    let record = find(7).zip(find(8)).and_then(|(sps, pps)| avcc(sps, pps));
    let record = record.ok_or_else(|| invalid("the first frame has no SPS and PPS"))?;
    let file = BufWriter::new(std::fs::File::create(out)?);
    let mut mkv = Mkv::with_video(file, (1280, 720), &Video::H264(record), 0)?;
    let mut cluster: Vec<Block> = Vec::new();
    let mut written = 0;
    for (i, &(at, size)) in frames.iter().enumerate() {
        let frame = if i == 0 {
            std::mem::take(&mut first)
        } else {
            let mut f = vec![0; size];
            if data.read_exact(&mut f).is_err() {
                break; // cut short (a crash): up to the last whole frame
            }
            f
        };
        let (block, keyframe) = length_prefixed(&frame);
        let ms = at.saturating_sub(first_at) / 90;
        if cluster.first().is_some_and(|c| ms.saturating_sub(c.at) >= 1000) {
            mkv.cluster(&cluster)?;
            cluster.clear();
        }
        cluster.push(Block { track: 1, at: ms, keyframe, data: block });
        written += 1;
    }
    mkv.cluster(&cluster)?;
    std::io::Write::flush(mkv.get_mut())?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splits_into_units_and_back_with_lengths() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 1, 0x68, 4, 0, 0, 0, 1, 0x65, 9, 9, 0];
        let units = nal_units(&data);
        assert_eq!(units, [&[0x67, 1, 2, 3][..], &[0x68, 4], &[0x65, 9, 9]]);
        let (prefixed, key) = length_prefixed(&data);
        assert!(key);
        assert_eq!(&prefixed[..8], &[0, 0, 0, 4, 0x67, 1, 2, 3]);
        assert_eq!(avcc(units[0], units[1]).expect("record")[..8], [1, 1, 2, 3, 0xff, 0xe1, 0, 4]);
        assert!(nal_units(&[1, 2, 3]).is_empty(), "no start code, no unit");
        assert!(avcc(&[0x67], &[0x68]).is_none(), "an SPS too short");
    }
}
