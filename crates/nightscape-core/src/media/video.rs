//! MP4/H.264 video, decoded in-process (owned by the video/text work; see media/mod.rs).
