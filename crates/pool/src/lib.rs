//! The producer pool. Not written yet: see issue "The producer pool".
