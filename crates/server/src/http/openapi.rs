//! The OpenAPI 3.1 document of the gateway (<https://spec.openapis.org/oas/v3.1.0>), served at
//! `GET /openapi.json`. It lives in `crates/server/openapi.json`; the test `tests/openapi.rs`
//! fails when it and [`crate::http::routes::ENDPOINTS`] or [`crate::http::error::ErrorCode::ALL`] disagree.

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../openapi.json");
