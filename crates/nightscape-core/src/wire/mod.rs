//! Wire codecs: the bytes of Art-Net (ArtDmx, ArtSync, ArtPoll and its
//! reply, and the RDM packets ArtTodRequest/ArtTodData/ArtTodControl/ArtRdm),
//! RDM itself (ANSI E1.20, `rdm`), E1.31 (sACN) and the ENTTEC DMX USB Pro framing. Each encodes
//! into a caller's reused buffer and decodes without allocating where it
//! can; sockets and serial ports live in the daemon's `output` module.

pub mod artnet;
pub mod enttec;
pub mod rdm;
pub mod sacn;
