//! What one subscriber's down track forwards of a layered video, packet by
//! packet: the allocator sets a target quality (a spatial layer at a frame
//! rate, `allocate::quality`); the gate here moves the forwarded quality
//! towards it only where the receiver's decoder can follow.
//!
//! - A spatial switch (another simulcast stream) happens on a keyframe of
//!   the target layer; until it comes, the current layer goes on and the
//!   publisher is asked for one.
//! - A lower frame rate starts at the next frame boundary: frames of the
//!   temporal layers above it are skipped (no other frame refers to them).
//! - A higher frame rate starts at a layer-sync frame (VP8 Y bit: it refers
//!   to the base layer only) of the next temporal layer, one layer at a
//!   time, or at a keyframe.
//!
//! Streams without temporal layers (H.264 here, VP8 without `L1T3`, the
//! `webrtc` crate) are temporal layer 0 throughout.

use crate::core::allocate::{quality, spatial, temporal};

/// What the gate needs of one packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PacketLayer {
    /// Its simulcast layer (0 without simulcast).
    pub spatial: u8,
    /// Its temporal layer (VP8 TID), if the stream has them.
    pub temporal: Option<u8>,
    /// It starts a keyframe (always for audio).
    pub keyframe: bool,
    /// It starts a frame newer than every packet of its layer seen so far
    /// (a late or repaired frame start changes nothing).
    pub frame_start: bool,
    /// Its frame is a layer-sync frame (VP8 Y).
    pub layer_sync: bool,
}

/// What a subscriber's down track forwards of a video.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LayerChoice {
    /// The quality being forwarded now (None: nothing yet, or paused).
    pub current: Option<u8>,
    /// The quality wanted (None: paused — not even the lowest fits).
    pub target: Option<u8>,
    /// The subscriber was told this video is paused for lack of bandwidth.
    pub paused_for_bandwidth: bool,
}

/// What the forwarding path does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Forward it.
    Forward,
    /// Forward it: the switch to the target's spatial layer (a new epoch
    /// of the rewriter) happens with this keyframe.
    Switch,
    /// Not this layer (or paused): drop it.
    Drop,
    /// A packet of the forwarded layer in a temporal layer not forwarded:
    /// drop it, and let the numbering close up (`Rewriter::skip`).
    Skip,
    /// A packet of the target layer that is not a keyframe while switching:
    /// drop it and ask for a keyframe of that spatial layer.
    NeedKeyframe(u8),
}

impl LayerChoice {
    /// An audio track: its one layer, always.
    pub fn audio() -> Self {
        Self { current: Some(0), target: Some(0), paused_for_bandwidth: false }
    }

    /// The spatial layer forwarded now.
    pub fn current_spatial(&self) -> Option<u8> {
        self.current.map(spatial)
    }

    /// Decides one packet, moving the forwarded quality where it may.
    pub fn gate(&mut self, p: PacketLayer) -> Gate {
        let Some(target) = self.target else { return Gate::Drop };
        let tid = p.temporal.unwrap_or(0);
        let on = spatial(target);
        if let Some(current) = self.current.filter(|c| spatial(*c) == on) {
            if p.spatial != on {
                return Gate::Drop;
            }
            let now = if p.frame_start { Self::frame_rate(current, target, tid, p) } else { current };
            self.current = Some(now);
            return if tid <= temporal(now) { Gate::Forward } else { Gate::Skip };
        }
        if p.spatial == on {
            if !p.keyframe {
                return Gate::NeedKeyframe(on);
            }
            self.current = Some(target);
            return Gate::Switch;
        }
        // Switching: the current layer goes on, as it was, until the
        // target's keyframe.
        match self.current {
            Some(c) if spatial(c) == p.spatial => {
                if tid <= temporal(c) {
                    Gate::Forward
                } else {
                    Gate::Skip
                }
            }
            _ => Gate::Drop,
        }
    }

    /// The quality from a frame that starts with `p` (of temporal layer
    /// `tid`) on, on the current spatial layer.
    fn frame_rate(current: u8, target: u8, tid: u8, p: PacketLayer) -> u8 {
        let (now, wanted) = (temporal(current), temporal(target));
        if wanted < now || p.keyframe {
            return target;
        }
        if wanted > now && p.layer_sync && tid == now + 1 {
            return quality(spatial(current), tid);
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(spatial: u8, temporal: Option<u8>, keyframe: bool) -> PacketLayer {
        PacketLayer { spatial, temporal, keyframe, frame_start: true, layer_sync: false }
    }

    #[test]
    fn a_switch_waits_for_the_targets_keyframe_and_keeps_the_current_layer() {
        let mut c =
            LayerChoice { current: Some(quality(0, 0)), target: Some(quality(2, 0)), ..Default::default() };
        assert_eq!(c.gate(pkt(0, None, false)), Gate::Forward, "the current layer goes on");
        assert_eq!(c.gate(pkt(1, None, true)), Gate::Drop);
        assert_eq!(c.gate(pkt(2, None, false)), Gate::NeedKeyframe(2));
        assert_eq!(c.gate(pkt(2, None, true)), Gate::Switch);
        assert_eq!(c.current, Some(quality(2, 0)));
        assert_eq!(c.gate(pkt(0, None, true)), Gate::Drop);
        assert_eq!(c.gate(pkt(2, None, false)), Gate::Forward);
        let mut paused = LayerChoice::default();
        assert_eq!(paused.gate(pkt(0, None, true)), Gate::Drop);
    }

    #[test]
    fn frame_rate_goes_down_at_a_frame_and_up_at_a_layer_sync_frame() {
        let mut c =
            LayerChoice { current: Some(quality(1, 2)), target: Some(quality(1, 2)), ..Default::default() };
        assert_eq!(c.gate(pkt(1, Some(2), false)), Gate::Forward);
        // Down to 7.5 fps: not in the middle of a frame…
        c.target = Some(quality(1, 0));
        let middle = PacketLayer { frame_start: false, ..pkt(1, Some(2), false) };
        assert_eq!(c.gate(middle), Gate::Forward, "the rest of a frame already begun");
        // …but from the next one.
        assert_eq!(c.gate(pkt(1, Some(1), false)), Gate::Skip);
        assert_eq!(c.gate(pkt(1, Some(2), false)), Gate::Skip);
        assert_eq!(c.gate(pkt(1, Some(0), false)), Gate::Forward);
        // Up to 30 fps: a TL1 frame that is not a sync frame changes nothing…
        c.target = Some(quality(1, 2));
        assert_eq!(c.gate(pkt(1, Some(1), false)), Gate::Skip);
        // …a TL2 sync frame neither (TL1 comes first)…
        let sync = |t| PacketLayer { layer_sync: true, ..pkt(1, Some(t), false) };
        assert_eq!(c.gate(sync(2)), Gate::Skip);
        // …a TL1 sync frame does, and then a TL2 one.
        assert_eq!(c.gate(sync(1)), Gate::Forward);
        assert_eq!(c.gate(pkt(1, Some(2), false)), Gate::Skip);
        assert_eq!(c.gate(sync(2)), Gate::Forward);
        assert_eq!(c.current, Some(quality(1, 2)));
        // A keyframe takes the target at once.
        c.target = Some(quality(1, 1));
        assert_eq!(c.gate(pkt(1, Some(0), false)), Gate::Forward);
        c.current = Some(quality(1, 0));
        assert_eq!(c.gate(pkt(1, Some(0), true)), Gate::Forward);
        assert_eq!(c.current, Some(quality(1, 1)));
    }

    #[test]
    fn a_stream_without_temporal_layers_is_layer_zero() {
        let mut c =
            LayerChoice { current: Some(quality(0, 0)), target: Some(quality(0, 0)), ..Default::default() };
        assert_eq!(c.gate(pkt(0, None, false)), Gate::Forward);
        assert_eq!(LayerChoice::audio().gate(PacketLayer::default()), Gate::Forward);
    }

    #[test]
    fn while_switching_the_old_layer_keeps_its_frame_rate() {
        let mut c =
            LayerChoice { current: Some(quality(2, 0)), target: Some(quality(0, 2)), ..Default::default() };
        assert_eq!(c.gate(pkt(2, Some(1), false)), Gate::Skip);
        assert_eq!(c.gate(pkt(2, Some(0), false)), Gate::Forward);
        assert_eq!(c.gate(pkt(0, Some(0), true)), Gate::Switch);
        assert_eq!(c.gate(pkt(0, Some(2), false)), Gate::Forward);
    }
}
