//! What ffprobe and ffmpeg say of a media file (recordings, composites,
//! the live feed's segments).

use std::path::Path;
use std::process::Command;

/// The streams of a file: (codec type, duration in seconds).
pub fn streams(path: &Path) -> Vec<(String, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(k, d)| (k.to_string(), d.parse().unwrap_or(0.0)))
        .collect()
}

/// The colour (RGB) at `(x, y)` of the file's frame at `t` seconds.
pub fn pixel(path: &Path, t: f64, (x, y): (u32, u32)) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-vf", &format!("format=rgb24,crop=1:1:{x}:{y}")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    assert_eq!(out.stdout.len(), 3, "one pixel: {}", String::from_utf8_lossy(&out.stderr));
    [out.stdout[0], out.stdout[1], out.stdout[2]]
}

/// The colour (RGB) at `(x, y)` of the file's last frame (every frame is
/// decoded: for short files whose timestamps do not start at zero, such as
/// HLS segments).
pub fn last_pixel(path: &Path, (x, y): (u32, u32)) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("format=rgb24,crop=1:1:{x}:{y}")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    let n = out.stdout.len();
    assert!(n >= 3 && n.is_multiple_of(3), "pixels: {}", String::from_utf8_lossy(&out.stderr));
    [out.stdout[n - 3], out.stdout[n - 2], out.stdout[n - 1]]
}
