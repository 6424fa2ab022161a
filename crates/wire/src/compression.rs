//! Compression codecs (to be written).
