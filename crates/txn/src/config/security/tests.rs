//! The security settings through the public builder, as a user or the gateway sets them.

use crate::config::{
    ConfigError, ProducerConfig, ProducerConfigBuilder, SaslCredentials, SaslMechanism,
    SecurityProtocol,
};

fn with(pairs: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
    pairs
        .iter()
        .try_fold(
            ProducerConfig::builder().bootstrap_servers("a:1"),
            |b: ProducerConfigBuilder, (k, v)| b.set(k, v),
        )?
        .build()
}

#[test]
fn plaintext_is_the_default_and_sends_no_credentials() {
    let config = with(&[]).unwrap();
    assert_eq!(config.sasl, None);
    assert_eq!(config.security_protocol(), SecurityProtocol::Plaintext);
    assert_eq!(
        with(&[("security.protocol", "plaintext")]).unwrap().sasl,
        None
    );
}

#[test]
fn sasl_plaintext_takes_java_and_librdkafka_names() {
    for mechanism_key in ["sasl.mechanism", "sasl.mechanisms"] {
        let config = with(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            (mechanism_key, "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ])
        .unwrap();
        let expected =
            SaslCredentials::new(SaslMechanism::ScramSha512, "alice", "alice-secret").unwrap();
        assert_eq!(config.sasl, Some(expected), "{mechanism_key}");
        assert_eq!(config.security_protocol(), SecurityProtocol::SaslPlaintext);
    }
}

#[test]
fn ssl_protocols_take_java_and_librdkafka_names() {
    let config = with(&[("security.protocol", "SSL")]).unwrap();
    assert_eq!(config.security_protocol(), SecurityProtocol::Ssl);
    let tls = config.tls.unwrap();
    assert!(tls.settings().verify_hostname, "https is the default");
    assert_eq!(tls.settings().ca_location, None);

    let config = with(&[
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "pw"),
        ("ssl.endpoint.identification.algorithm", ""),
        ("ssl.truststore.type", "PEM"),
    ])
    .unwrap();
    assert_eq!(config.security_protocol(), SecurityProtocol::SaslSsl);
    assert!(!config.tls.unwrap().settings().verify_hostname);

    // A missing trust store is named by its setting when the configuration is built.
    for key in ["ssl.truststore.location", "ssl.ca.location"] {
        let err = with(&[("security.protocol", "SSL"), (key, "/nonexistent/ca.pem")]).unwrap_err();
        assert!(err.to_string().contains("ssl.ca.location"), "{err}");
    }
    assert!(matches!(
        with(&[("security.protocol", "SSL"), ("ssl.keystore.type", "JKS")]),
        Err(ConfigError::InvalidValue {
            key: "ssl.keystore.type",
            ..
        })
    ));
    assert!(matches!(
        with(&[("security.protocol", "SSL"), ("ssl.key.password", "x")]),
        Err(ConfigError::InvalidValue {
            key: "ssl.key.password",
            ..
        })
    ));
    assert!(matches!(
        with(&[
            ("security.protocol", "SSL"),
            ("ssl.endpoint.identification.algorithm", "ldap")
        ]),
        Err(ConfigError::InvalidValue {
            key: "ssl.endpoint.identification.algorithm",
            ..
        })
    ));
    // ssl.* without a TLS protocol is a forgotten security.protocol.
    let err = with(&[("ssl.ca.location", "/tmp/ca.pem")]).unwrap_err();
    assert!(err.to_string().contains("security.protocol=SSL"), "{err}");
    // SASL settings need a SASL protocol, also over TLS.
    assert!(with(&[("security.protocol", "SSL"), ("sasl.username", "a")]).is_err());

    assert!(with(&[("security.protocol", "KERBEROS")]).is_err());
    assert!(matches!(
        with(&[("sasl.mechanism", "GSSAPI")]),
        Err(ConfigError::InvalidValue {
            key: "sasl.mechanism",
            ..
        })
    ));
}

#[test]
fn connection_security_takes_only_security_keys() {
    let security = crate::config::connection_security([("security.protocol", "SSL")]).unwrap();
    assert!(security.tls.is_some() && security.sasl.is_none());
    assert!(matches!(
        crate::config::connection_security([("linger.ms", "5")]),
        Err(ConfigError::UnknownKey(_))
    ));
}

#[test]
fn sasl_plaintext_without_a_mechanism_user_or_password_is_refused() {
    let full = [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "pw"),
    ];
    for left_out in 1..full.len() {
        let mut pairs = full.to_vec();
        let (missing, _) = pairs.remove(left_out);
        let err = with(&pairs).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Conflict(m) if m.contains(missing)),
            "{missing}: {err}"
        );
    }
    let empty_user = with(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", ""),
        ("sasl.password", "pw"),
    ]);
    assert!(matches!(empty_user, Err(ConfigError::Conflict(_))));
}

#[test]
fn credentials_without_sasl_plaintext_are_a_forgotten_protocol() {
    let err = with(&[("sasl.username", "alice"), ("sasl.password", "pw")]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Conflict(m) if m.contains("security.protocol")),
        "{err}"
    );
}

#[test]
fn the_typed_setter_works_and_no_debug_output_shows_the_password() {
    let credentials =
        SaslCredentials::new(SaslMechanism::ScramSha256, "alice", "hunter2-secret").unwrap();
    let builder = ProducerConfig::builder()
        .bootstrap_servers("a:1")
        .sasl(credentials.clone());
    let config = builder.clone().build().unwrap();
    assert_eq!(config.sasl, Some(credentials));
    let strings = ProducerConfig::builder()
        .set("sasl.password", "hunter2-secret")
        .unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{builder:?}"),
        format!("{strings:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
