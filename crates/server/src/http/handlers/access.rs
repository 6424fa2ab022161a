//! Who is calling, and whether they may do what the request asks (`--api-keys`).
//!
//! Checked before anything is leased or written: a refused request answers 401 or 403 with
//! outcome `none`. `/healthz`, `/readyz` and `/openapi.json` stay open (probes and the
//! document); `/metrics` is open unless `--metrics-require-key`.

use std::sync::Arc;

use hyper::header::{self, HeaderMap};

use crate::http::auth::{AccessList, KeyHash, Principal};
use crate::http::config::ServerConfig;
use crate::http::error::{ApiError, Unauthenticated};
use crate::http::routes::Route;
use crate::http::server::Peer;

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Authentication is off (or done by a required client certificate alone): anything goes.
    Unrestricted,
    /// A caller of the access file, with its rights as they were when the request came in.
    Known(Arc<Principal>),
}

/// Whether `route` needs an authenticated caller when authentication is on.
fn needs_caller(route: &Route<'_>, config: &ServerConfig) -> bool {
    match route {
        Route::Healthz | Route::Readyz | Route::OpenApi => false,
        Route::Metrics => config.metrics_require_key,
        Route::Errors(_)
        | Route::Warnings(_)
        | Route::TopicRecords(_)
        | Route::Transactions
        | Route::Topics
        | Route::Topic(_) => true,
    }
}

/// Finds the caller of a request to `route`, removing the `Authorization` header so the key is
/// dropped here, hashed and never kept, logged or passed on.
pub fn authenticate(
    config: &ServerConfig,
    route: &Route<'_>,
    peer: &Peer,
    headers: &mut HeaderMap,
) -> Result<Caller, ApiError> {
    let presented = take_bearer(headers);
    let Some(access) = config.access.as_deref() else {
        return Ok(Caller::Unrestricted);
    };
    if !needs_caller(route, config) {
        return Ok(Caller::Unrestricted);
    }
    identify(&access.current(), presented, peer).map(Caller::Known)
}

/// An API key, when sent, decides alone: a wrong key is refused even with a good certificate,
/// so a client never silently acts as someone other than it asked to.
fn identify(
    access: &AccessList,
    presented: Option<Result<KeyHash, Unauthenticated>>,
    peer: &Peer,
) -> Result<Arc<Principal>, ApiError> {
    let found = match presented {
        Some(Ok(digest)) => access
            .by_digest(&digest)
            .ok_or(ApiError::Unauthorized(Unauthenticated::Invalid)),
        Some(Err(why)) => Err(ApiError::Unauthorized(why)),
        None => peer
            .certificate_name
            .as_deref()
            .and_then(|name| access.by_certificate(name))
            .ok_or(ApiError::Unauthorized(Unauthenticated::Missing)),
    };
    found.map(Arc::clone)
}

/// Removes every `Authorization` header and hashes the key of a single `Bearer` one (RFC 6750
/// section 2.1; the scheme is case-insensitive, RFC 9110 section 11.1). `None` without one.
fn take_bearer(headers: &mut HeaderMap) -> Option<Result<KeyHash, Unauthenticated>> {
    let header::Entry::Occupied(entry) = headers.entry(header::AUTHORIZATION) else {
        return None;
    };
    let (_, mut values) = entry.remove_entry_mult();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Some(Err(Unauthenticated::Invalid));
    };
    let bytes = value.as_bytes();
    let token = match bytes.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => token.trim_ascii(),
        _ => return Some(Err(Unauthenticated::Invalid)),
    };
    if token.is_empty() {
        return Some(Err(Unauthenticated::Invalid));
    }
    Some(Ok(KeyHash::of(token)))
}

impl Caller {
    /// The caller's name for logs; `None` when authentication is off.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Unrestricted => None,
            Self::Known(principal) => Some(&principal.name),
        }
    }

    /// 403 naming the first of `topics` the caller may not write.
    pub fn may_write<'t>(&self, topics: impl IntoIterator<Item = &'t str>) -> Result<(), ApiError> {
        let Self::Known(principal) = self else {
            return Ok(());
        };
        match topics
            .into_iter()
            .find(|topic| !principal.rights.may_write(topic))
        {
            None => Ok(()),
            Some(topic) => Err(ApiError::Forbidden(format!(
                "caller `{}` may not write to topic {topic:?}",
                principal.name
            ))),
        }
    }

    /// 403 unless the caller may read `/metrics`.
    pub fn may_read_metrics(&self) -> Result<(), ApiError> {
        match self {
            Self::Known(principal) if !principal.rights.metrics => Err(ApiError::Forbidden(
                format!("caller `{}` may not read the metrics", principal.name),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;
    use crate::http::auth::SharedAccess;

    const KEY: &str = "orders-key-0123456789";

    fn config(metrics_require_key: bool) -> ServerConfig {
        let text = format!(
            "{} orders topics=orders\ncert:CN=billing billing topics=invoices metrics\n",
            KeyHash::of(KEY.as_bytes())
        );
        ServerConfig {
            access: Some(Arc::new(SharedAccess::fixed(
                AccessList::parse(&text, "t").unwrap(),
            ))),
            metrics_require_key,
            ..ServerConfig::default()
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn caller_name(
        config: &ServerConfig,
        route: Route<'_>,
        peer: &Peer,
        values: &[&str],
    ) -> Result<Option<String>, ApiError> {
        let mut map = headers(values);
        let caller = authenticate(config, &route, peer, &mut map)?;
        assert!(
            map.get(header::AUTHORIZATION).is_none(),
            "the key is dropped"
        );
        Ok(caller.name().map(str::to_owned))
    }

    #[test]
    fn a_bearer_key_names_its_caller_in_any_scheme_case() {
        let config = config(false);
        let peer = Peer::default();
        for value in [format!("Bearer {KEY}"), format!("bearer  {KEY} ")] {
            let name = caller_name(&config, Route::Transactions, &peer, &[&value]);
            assert_eq!(name.unwrap().as_deref(), Some("orders"), "{value}");
        }
    }

    #[test]
    fn missing_wrong_and_malformed_credentials_are_401() {
        let config = config(false);
        let peer = Peer::default();
        let missing = ApiError::Unauthorized(Unauthenticated::Missing);
        let invalid = ApiError::Unauthorized(Unauthenticated::Invalid);
        let route = Route::TopicRecords("orders");
        assert_eq!(caller_name(&config, route, &peer, &[]), Err(missing));
        let cases: &[&[&str]] = &[
            &["Bearer wrong-key-0123456789"],
            &["Bearer "],
            &[KEY],
            &[&format!("Basic {KEY}")],
            &[&format!("Bearer {KEY}"), &format!("Bearer {KEY}")],
        ];
        for values in cases {
            let got = caller_name(&config, route, &peer, values);
            assert_eq!(got, Err(invalid.clone()), "{values:?}");
        }
    }

    #[test]
    fn a_named_certificate_identifies_unless_a_key_is_sent() {
        let config = config(false);
        let billing = Peer {
            certificate_name: Some(Arc::from("billing")),
        };
        let stranger = Peer {
            certificate_name: Some(Arc::from("stranger")),
        };
        let route = Route::Transactions;
        assert_eq!(
            caller_name(&config, route, &billing, &[])
                .unwrap()
                .as_deref(),
            Some("billing")
        );
        assert!(caller_name(&config, route, &stranger, &[]).is_err());
        let with_wrong_key = caller_name(&config, route, &billing, &["Bearer nope-nope-nope"]);
        assert_eq!(
            with_wrong_key,
            Err(ApiError::Unauthorized(Unauthenticated::Invalid))
        );
    }

    #[test]
    fn probes_and_the_document_stay_open_and_metrics_only_when_asked() {
        let peer = Peer::default();
        for route in [Route::Healthz, Route::Readyz, Route::OpenApi] {
            assert_eq!(caller_name(&config(true), route, &peer, &[]), Ok(None));
        }
        assert_eq!(
            caller_name(&config(false), Route::Metrics, &peer, &[]),
            Ok(None)
        );
        assert!(caller_name(&config(true), Route::Metrics, &peer, &[]).is_err());
        let open = ServerConfig::default();
        assert_eq!(
            caller_name(&open, Route::Transactions, &peer, &[]),
            Ok(None)
        );
    }

    #[test]
    fn rights_decide_topics_and_metrics() {
        let config = config(true);
        let mut map = headers(&[&format!("Bearer {KEY}")]);
        let caller = authenticate(&config, &Route::Transactions, &Peer::default(), &mut map);
        let caller = caller.unwrap();
        assert!(caller.may_write(["orders", "orders"]).is_ok());
        let refused = caller.may_write(["orders", "audit"]).unwrap_err();
        assert_eq!(refused.code(), "forbidden");
        assert!(refused.to_string().contains("\"audit\""), "{refused}");
        assert_eq!(caller.may_read_metrics().unwrap_err().code(), "forbidden");
        assert!(Caller::Unrestricted.may_write(["x"]).is_ok());
    }
}
