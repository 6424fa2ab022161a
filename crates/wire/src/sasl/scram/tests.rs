//! SCRAM against the RFC 7677 example and against a server computed independently here.

use super::*;
use crate::sasl::credentials::SaslMechanism;

// RFC 7677 section 3: user "user", password "pencil".
const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_client() -> ScramClient {
    let creds = SaslCredentials::new(SaslMechanism::ScramSha256, "user", "pencil").unwrap();
    ScramClient::new(ScramHash::Sha256, creds, RFC_CLIENT_NONCE.to_owned())
}

/// A client that has sent client-first and received `server_first`.
fn after_server_first(server_first: &str) -> Result<Option<Vec<u8>>, AuthError> {
    let mut client = rfc_client();
    client.client_first();
    client.step(server_first.as_bytes())
}

#[test]
fn rfc_7677_example_produces_the_published_messages_and_accepts_the_server() {
    let mut client = rfc_client();
    assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client.step(RFC_SERVER_FIRST.as_bytes()).unwrap().unwrap();
    assert_eq!(String::from_utf8(client_final).unwrap(), RFC_CLIENT_FINAL);
    assert_eq!(client.step(RFC_SERVER_FINAL.as_bytes()).unwrap(), None);
    // Finished: a further message is a protocol error, not a silent success.
    assert!(matches!(
        client.step(RFC_SERVER_FINAL.as_bytes()),
        Err(AuthError::UnexpectedExchange(_))
    ));
}

#[test]
fn a_wrong_server_signature_is_refused() {
    let mut client = rfc_client();
    client.client_first();
    client.step(RFC_SERVER_FIRST.as_bytes()).unwrap();
    // The right length and valid base64, one bit off.
    let forged = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=";
    assert_eq!(
        client.step(forged.as_bytes()),
        Err(AuthError::ServerSignatureMismatch)
    );
}

#[test]
fn a_server_error_is_reported_with_its_text() {
    let mut client = rfc_client();
    client.client_first();
    client.step(RFC_SERVER_FIRST.as_bytes()).unwrap();
    assert_eq!(
        client.step(b"e=invalid-proof"),
        Err(AuthError::ServerError("invalid-proof".into()))
    );
}

#[test]
fn a_server_nonce_that_does_not_extend_ours_is_refused() {
    let other = RFC_SERVER_FIRST.replacen("rOpr", "XOpr", 1);
    assert_eq!(after_server_first(&other), Err(AuthError::NonceMismatch));
}

#[test]
fn iteration_counts_outside_the_accepted_range_are_refused() {
    for (count, expected) in [
        (4095, false),
        (4096, true),
        (100_000, true),
        (100_001, false),
    ] {
        let message = RFC_SERVER_FIRST.replace("i=4096", &format!("i={count}"));
        let result = after_server_first(&message);
        assert_eq!(result.is_ok(), expected, "{count}: {result:?}");
        if !expected {
            assert_eq!(result, Err(AuthError::IterationCount(count)));
        }
    }
}

#[test]
fn malformed_server_first_messages_are_errors() {
    let cases = [
        RFC_SERVER_FIRST.replace("s=W22ZaJ0SNY7soEsUEjb6gQ==", "s=W22Z*J0SNY7soEsUEjb6gQ=="),
        RFC_SERVER_FIRST.replace("i=4096", "i=lots"),
        RFC_SERVER_FIRST.replace("i=4096", "i=-1"),
        format!("m=ext,{RFC_SERVER_FIRST}"),
        "r=rOprNGfwEbeRWgbNEkqO".to_owned(),
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096".to_owned(),
        String::new(),
    ];
    for case in cases {
        assert!(
            matches!(
                after_server_first(&case),
                Err(AuthError::MalformedServerMessage(_))
            ),
            "{case}"
        );
    }
    let mut client = rfc_client();
    client.client_first();
    assert!(matches!(
        client.step(&[0x72, 0x3d, 0xff, 0xfe]),
        Err(AuthError::MalformedServerMessage(_))
    ));
}

#[test]
fn extensions_after_the_required_attributes_are_ignored() {
    let message = format!("{RFC_SERVER_FIRST},x=extension");
    assert!(after_server_first(&message).unwrap().is_some());
}

#[test]
fn usernames_are_escaped_and_nonces_are_fresh_printable_and_comma_free() {
    let creds = SaslCredentials::new(SaslMechanism::ScramSha512, "a=b,c", "pw").unwrap();
    let mut client = ScramClient::new(ScramHash::Sha512, creds, "nonce".into());
    assert_eq!(client.client_first(), b"n,,n=a=3Db=2Cc,r=nonce");
    let first = random_nonce().unwrap();
    let second = random_nonce().unwrap();
    assert_ne!(first, second);
    assert!(first.len() >= 24);
    assert!(first.bytes().all(|b| b.is_ascii_graphic() && b != b','));
}

/// The server side of RFC 5802, written out step by step, so that SHA-512 (which has no
/// published example) is checked against an independent derivation of the same formulas.
fn server_messages(password: &str, auth_message: &str, salt: &[u8], i: u32) -> (Vec<u8>, Vec<u8>) {
    let h = ScramHash::Sha512;
    let salted = h.salted_password(password.as_bytes(), salt, i);
    let client_key = h.hmac(&salted, b"Client Key");
    let stored_key = h.hash(&client_key);
    let signature = h.hmac(&stored_key, auth_message.as_bytes());
    let proof = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_signature = h.hmac(&h.hmac(&salted, b"Server Key"), auth_message.as_bytes());
    (proof, server_signature)
}

#[test]
fn sha_512_exchange_matches_an_independent_server_computation() {
    let creds = SaslCredentials::new(SaslMechanism::ScramSha512, "alice", "alice-secret").unwrap();
    let mut client = ScramClient::new(ScramHash::Sha512, creds, "cnonce".into());
    client.client_first();
    let salt = b"0123456789abcdef";
    let server_first = format!("r=cnonceSNONCE,s={},i=4096", BASE64.encode(salt));
    let client_final = client.step(server_first.as_bytes()).unwrap().unwrap();
    let client_final = String::from_utf8(client_final).unwrap();
    let (without_proof, proof) = client_final.split_once(",p=").unwrap();
    assert_eq!(without_proof, "c=biws,r=cnonceSNONCE");
    let auth_message = format!("n=alice,r=cnonce,{server_first},{without_proof}");
    let (expected_proof, server_signature) =
        server_messages("alice-secret", &auth_message, salt, 4096);
    assert_eq!(BASE64.decode(proof).unwrap(), expected_proof);
    assert_eq!(expected_proof.len(), 64);
    let server_final = format!("v={}", BASE64.encode(server_signature));
    assert_eq!(client.step(server_final.as_bytes()).unwrap(), None);
}

#[test]
fn debug_shows_neither_the_password_nor_derived_keys() {
    let mut client = rfc_client();
    client.client_first();
    client.step(RFC_SERVER_FIRST.as_bytes()).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("pencil"), "{shown}");
    assert!(shown.contains("sent client-final"), "{shown}");
}
