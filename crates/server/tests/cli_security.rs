//! The command line of the gateway's HTTPS and authentication: flags that need each other,
//! what reaches the configuration, and `hash-key`'s flags.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use clap::Parser;
use kafkatx_server::cli::serve::ServeArgs;
use kafkatx_server::cli::{Cli, Command};
use kafkatx_server::http::tls::ClientAuth;

fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
    let cli = Cli::try_parse_from(["kafkatx", "serve"].iter().chain(args))?;
    match cli.command {
        Command::Serve(serve) => Ok(serve),
        other => panic!("not serve: {other:?}"),
    }
}

#[test]
fn https_and_keys_are_off_by_default() {
    if [
        "KAFKATX_TLS_CERT",
        "KAFKATX_API_KEYS",
        "KAFKATX_TLS_CLIENT_CA",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some())
    {
        eprintln!("SKIPPED: a KAFKATX_TLS_* or KAFKATX_API_KEYS variable is set");
        return;
    }
    let args = serve(&[]).unwrap();
    assert!(args.tls_files().is_none());
    assert!(args.access_list().unwrap().is_none());
    assert_eq!(args.tls_reload_interval_secs, 5);
    let config = args.server_config();
    assert!(config.access.is_none() && !config.metrics_require_key);
}

#[test]
fn flags_that_need_each_other_are_refused_alone() {
    for alone in [
        &["--tls-cert", "c.pem"][..],
        &["--tls-key", "k.pem"],
        &["--tls-client-ca", "ca.pem"],
        &["--metrics-require-key"],
        &[
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--tls-reload-interval-secs",
            "0",
        ],
    ] {
        assert!(serve(alone).is_err(), "{alone:?} was accepted");
    }
}

#[test]
fn a_client_ca_is_required_alone_and_optional_beside_keys() {
    let tls = [
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
        "--tls-client-ca",
        "ca.pem",
    ];
    let alone = serve(&tls).unwrap().tls_files().unwrap();
    assert_eq!(alone.cert, PathBuf::from("c.pem"));
    assert_eq!(
        alone.client_ca,
        Some((PathBuf::from("ca.pem"), ClientAuth::Required))
    );
    let mut with_keys = tls.to_vec();
    with_keys.extend(["--api-keys", "keys.txt", "--metrics-require-key"]);
    let args = serve(&with_keys).unwrap();
    assert_eq!(
        args.tls_files().unwrap().client_ca,
        Some((PathBuf::from("ca.pem"), ClientAuth::Optional))
    );
    assert!(args.server_config().metrics_require_key);
}

#[test]
fn an_access_file_is_read_and_checked_against_the_tls_flags() {
    let dir = std::env::temp_dir().join(format!("kafkatx-cli-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.txt");
    let certs = dir.join("certs.txt");
    std::fs::write(
        &keys,
        format!("{} app topics=a\n", "sha256:".to_owned() + &"ab".repeat(32)),
    )
    .unwrap();
    std::fs::write(&certs, "cert:CN=billing billing topics=a\n").unwrap();
    let keys = keys.to_str().unwrap();
    let certs = certs.to_str().unwrap();
    let list = serve(&["--api-keys", keys]).unwrap().access_list().unwrap();
    assert_eq!(list.unwrap().current().len(), 1);
    let error = serve(&["--api-keys", certs])
        .unwrap()
        .access_list()
        .unwrap_err();
    assert!(error.to_string().contains("--tls-client-ca"), "{error}");
    let missing = serve(&["--api-keys", "/nonexistent/keys.txt"])
        .unwrap()
        .access_list()
        .unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/keys.txt"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hash_key_rights_need_a_name() {
    let parse = |args: &[&str]| Cli::try_parse_from(["kafkatx", "hash-key"].iter().chain(args));
    assert!(parse(&[]).is_ok());
    assert!(parse(&["--name", "app", "--topics", "a,b-*", "--metrics"]).is_ok());
    assert!(parse(&["--topics", "a"]).is_err());
    assert!(parse(&["--metrics"]).is_err());
}
