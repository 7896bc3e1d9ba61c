//! Text rendered with a bundled font into a Picture (owned by the video/text work; see media/mod.rs).
