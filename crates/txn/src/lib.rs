//! The transaction engine. Not written yet: see issue "The transaction engine".
