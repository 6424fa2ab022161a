//! Record batches (to be written).
