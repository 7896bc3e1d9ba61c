//! Wire codecs: the bytes of Art-Net (ArtDmx, ArtSync, ArtPoll and its
//! reply, and the RDM packets ArtTodRequest/ArtTodData/ArtTodControl/ArtRdm),
//! RDM itself (ANSI E1.20, `rdm`), E1.31 (sACN) and the ENTTEC DMX USB Pro framing. Each encodes
//! into a caller's reused buffer and decodes without allocating where it
//! can; sockets and serial ports live in the daemon's `output` module.
//!
//! The codecs stand alone: they use nothing else of the crate (the layer
//! test in `tests/layers.rs` holds them to it), so a receiver or a tool can
//! take the bytes without the site model.

pub mod artcontrol;
pub mod artnet;
pub mod enttec;
pub mod rdm;
pub mod sacn;

/// Slots in a DMX512 universe (ANSI E1.11): the data length of every ArtDmx
/// and E1.31 packet this module writes. The site's patch uses the same
/// number (`site::UNIVERSE_SIZE`, tested equal) without the codecs knowing
/// the site.
pub const UNIVERSE_SIZE: usize = 512;
