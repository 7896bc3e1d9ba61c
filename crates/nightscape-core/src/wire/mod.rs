//! Wire codecs: the bytes of Art-Net (ArtDmx, ArtSync, ArtPoll and its
//! reply), E1.31 (sACN) and the ENTTEC DMX USB Pro framing. Each encodes
//! into a caller's reused buffer and decodes without allocating where it
//! can; sockets and serial ports live in the daemon's `output` module.

pub mod artnet;
pub mod enttec;
pub mod sacn;
