//! The OpenAPI document (`crates/server/openapi.json`) against the code: the same paths and
//! methods as the router's endpoint list, both ways; the same error codes as `ErrorCode::ALL`,
//! both ways; every reference resolves; every answer documents `X-Request-Id`, every 503
//! `Retry-After`.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use kafkatx_server::http::error::ErrorCode;
use kafkatx_server::http::openapi::DOCUMENT;
use kafkatx_server::http::routes::ENDPOINTS;
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[test]
fn it_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "the document's version follows the crate's"
    );
}

#[test]
fn paths_and_methods_match_the_router_both_ways() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .flat_map(|e| e.methods().map(|m| (e.template.to_owned(), m.to_owned())))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json documents what the router does not serve: {unrouted:?}"
    );
}

#[test]
fn error_codes_match_the_code_both_ways() {
    let doc = document();
    let documented: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let coded: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(coded.len(), ErrorCode::ALL.len(), "codes are distinct");
    let missing: Vec<_> = coded.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&coded).collect();
    assert!(
        missing.is_empty(),
        "codes missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json lists unknown codes: {extra:?}"
    );
    // The prose of the document names each code, so a reader learns when it happens.
    for code in &coded {
        let named = format!("`{code}`");
        let occurrences = DOCUMENT.matches(&named).count();
        assert!(
            occurrences >= 1 || ["not_found", "method_not_allowed"].contains(code),
            "no response description mentions {named}"
        );
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn each_ref<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    out.push(inner.as_str().unwrap());
                } else {
                    each_ref(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| each_ref(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    each_ref(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        assert!(resolve(&doc, reference).is_some(), "dangling {reference}");
    }
}

#[test]
fn every_answer_documents_its_request_id_and_every_503_its_retry_after() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let response = match response.get("$ref") {
                    Some(r) => resolve(&doc, r.as_str().unwrap()).unwrap(),
                    None => response,
                };
                let headers = &response["headers"];
                assert!(
                    headers.get("X-Request-Id").is_some(),
                    "{method} {path} {status}: no X-Request-Id"
                );
                // /readyz's 503 is a probe answer, not a refused request: no Retry-After.
                if status == "503" && path != "/readyz" {
                    assert!(
                        headers.get("Retry-After").is_some(),
                        "{method} {path} 503: no Retry-After"
                    );
                }
            }
        }
    }
}

#[test]
fn the_request_examples_are_accepted_by_the_parser() {
    let doc = document();
    let config = kafkatx_server::ServerConfig::default();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(examples) =
            item["post"]["requestBody"]["content"]["application/json"]["examples"].as_object()
        else {
            continue;
        };
        let path_topic = path.contains("{topic}").then_some("orders");
        for (name, example) in examples {
            let bytes = serde_json::to_vec(&example["value"]).unwrap();
            let parsed = kafkatx_server::http::body::parse_records(&bytes, path_topic, &config);
            assert!(parsed.is_ok(), "{path} example {name}: {parsed:?}");
            seen += 1;
        }
    }
    assert!(seen >= 4, "both record endpoints have examples");
}

#[test]
fn authentication_is_documented_where_it_applies() {
    let doc = document();
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"].as_array();
            let security = security.unwrap_or_else(|| panic!("{method} {path}: no security"));
            let responses = operation["responses"].as_object().unwrap();
            let open = ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str());
            if open {
                assert!(security.is_empty(), "{method} {path} is always open");
                assert!(!responses.contains_key("401"), "{method} {path}");
                continue;
            }
            // Off by default: the empty requirement comes first, then the two schemes.
            assert_eq!(security.len(), 3, "{method} {path}");
            assert!(security[0].as_object().unwrap().is_empty());
            let unauthorized = &responses["401"];
            assert!(
                unauthorized["headers"].get("WWW-Authenticate").is_some(),
                "{method} {path} 401: no WWW-Authenticate"
            );
            let writes = !path.starts_with("/v1/topics") || path.ends_with("/records");
            assert_eq!(
                responses.contains_key("403"),
                writes,
                "{method} {path}: 403 exactly where a right is checked"
            );
        }
    }
}
