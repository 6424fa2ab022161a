//! The command line: defaults and flag names that scripts rely on.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use kafkatx_server::cli::logging::LogFormat;
use kafkatx_server::cli::{Cli, Command};
use kafkatx_tools::consume::IsolationLevel;
use kafkatx_tools::load::Endpoint;
use kafkatx_wire::compression::Compression;

#[allow(clippy::panic)] // a test helper: a refused command line fails the calling test
fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("kafkatx").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn serve_defaults_match_the_documented_ones() {
    let Command::Serve(serve) = parse(&["serve"]).command else {
        panic!("not serve");
    };
    // The flags' environment variables would override the defaults; only check without them.
    let overriding = [
        "KAFKATX_BOOTSTRAP_SERVERS",
        "KAFKATX_LISTEN",
        "KAFKATX_POOL_SIZE",
        "KAFKATX_COMPRESSION",
        "KAFKATX_ERRORS_TOPIC",
        "KAFKATX_WARNINGS_TOPIC",
        "KAFKATX_MAX_BODY_BYTES",
        "KAFKATX_SHUTDOWN_TIMEOUT_MS",
    ];
    if let Some(set) = overriding
        .iter()
        .find(|name| std::env::var_os(name).is_some())
    {
        eprintln!("SKIPPED: {set} is set and overrides a default");
        return;
    }
    assert_eq!(serve.bootstrap_server, "127.0.0.1:9092");
    assert_eq!(
        serve.listen,
        "127.0.0.1:3001".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(serve.pool_size, 5);
    assert_eq!(serve.compression, Compression::Zstd);
    assert_eq!(serve.errors_topic, "errors-topic");
    assert_eq!(serve.warnings_topic, "warnings-topic");
    let config = serve.server_config();
    assert_eq!(config.max_body_bytes, 1024 * 1024);
    assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
}

#[test]
fn serve_flags_reach_the_server_and_pool_settings() {
    let cli = parse(&[
        "--log-format",
        "json",
        "serve",
        "--bootstrap-server",
        "a:9092, b:9092",
        "--listen",
        "0.0.0.0:8080",
        "--pool-size",
        "3",
        "--instance-id",
        "gw-2",
        "--transactional-id-prefix",
        "orders",
        "--errors-topic",
        "e",
        "--warnings-topic",
        "w",
        "--compression",
        "lz4",
        "--lease-timeout-ms",
        "750",
        "--max-records",
        "10",
        "--producer-property",
        "linger.ms=0",
        "--producer-property",
        "max.block.ms = 5000",
        "--cors-origin",
        "https://app.example",
        "--cors-origin",
        "http://localhost:5173",
    ]);
    assert_eq!(cli.log.log_format, LogFormat::Json);
    let Command::Serve(serve) = cli.command else {
        panic!("not serve");
    };
    let settings = serve.kafka_settings();
    assert_eq!(settings.bootstrap_servers, vec!["a:9092", "b:9092"]);
    assert_eq!(settings.pool_size, 3);
    assert_eq!(settings.compression, Compression::Lz4);
    assert_eq!(settings.lease_timeout, Duration::from_millis(750));
    assert_eq!(
        settings.producer_properties,
        vec![
            ("linger.ms".to_owned(), "0".to_owned()),
            ("max.block.ms".to_owned(), "5000".to_owned())
        ]
    );
    assert_eq!(
        settings.pool_config().unwrap().transactional_id(0),
        "orders-gw-2-0"
    );
    let config = serve.server_config();
    assert_eq!(
        (config.errors_topic.as_str(), config.warnings_topic.as_str()),
        ("e", "w")
    );
    assert_eq!(config.max_records, 10);
    if std::env::var_os("KAFKATX_CORS_ORIGINS").is_none() {
        assert_eq!(
            config.cors_origins,
            ["https://app.example", "http://localhost:5173"]
        );
    }
}

#[test]
fn bad_values_are_refused_by_the_parser() {
    for args in [
        &["serve", "--pool-size", "0"][..],
        &["serve", "--compression", "brotli"],
        &["serve", "--listen", "nowhere"],
        &["serve", "--producer-property", "linger.ms"],
        // An origin is scheme://host[:port]: a trailing slash would never match a browser's.
        &["serve", "--cors-origin", "https://app.example/"],
        &["serve", "--cors-origin", "app.example"],
        &["consume", "--topic", "t", "--isolation-level", "dirty"],
    ] {
        let argv = std::iter::once("kafkatx").chain(args.iter().copied());
        assert!(Cli::try_parse_from(argv).is_err(), "{args:?} accepted");
    }
}

#[test]
fn tool_subcommands_take_their_documented_flags() {
    let perf = parse(&[
        "perf",
        "--bootstrap-server",
        "k:9092",
        "--topic",
        "t",
        "--num-records",
        "1000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--transactional-id",
        "p",
        "--transaction-duration-ms",
        "100",
        "--producer-props",
        "compression.type=none",
        "linger.ms=5",
    ]);
    let Command::Perf(perf) = perf.command else {
        panic!("not perf");
    };
    assert_eq!((perf.num_records, perf.throughput), (1000, -1.0));
    assert_eq!(perf.producer_props.len(), 2);

    let consume = parse(&[
        "consume",
        "--topic",
        "t",
        "--isolation-level",
        "read_uncommitted",
        "--from-beginning",
    ]);
    let Command::Consume(consume) = consume.command else {
        panic!("not consume");
    };
    assert_eq!(consume.isolation_level, IsolationLevel::ReadUncommitted);
    assert!(consume.from_beginning);

    let load = parse(&[
        "load",
        "--url",
        "http://h:1",
        "--concurrency",
        "8",
        "--requests",
        "50",
        "--duration",
        "3",
        "--endpoint",
        "records",
        "--check",
    ]);
    let Command::Load(load) = load.command else {
        panic!("not load");
    };
    assert_eq!(load.endpoint, Endpoint::Records);
    assert_eq!(load.duration, Some(Duration::from_secs(3)));
    assert!(load.check);
}

#[tokio::test]
async fn load_against_a_closed_port_counts_every_request_as_a_connect_failure() {
    // Bind then drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cli = parse(&[
        "load",
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--concurrency",
        "2",
        "--requests",
        "5",
    ]);
    let Command::Load(args) = cli.command else {
        panic!("not load");
    };
    let report = kafkatx_tools::load::execute(&args).await.unwrap();
    assert_eq!(report.summary.requests, 5);
    assert_eq!(report.summary.failed, 5);
    assert_eq!(report.summary.committed, 0);
    assert_eq!(
        report.summary.errors_by_kind.get("connect failed"),
        Some(&5)
    );
}

#[test]
fn consume_and_load_take_connection_settings_and_serve_the_topic_creation_switch() {
    let cli = parse(&[
        "consume",
        "--topic",
        "t",
        "--consumer-property",
        "security.protocol=SSL",
        "--consumer-property",
        "ssl.ca.location=/etc/kafka/ca.pem",
    ]);
    let Command::Consume(consume) = cli.command else {
        panic!("not consume");
    };
    assert_eq!(
        consume.consumer_properties,
        vec![
            ("security.protocol".to_owned(), "SSL".to_owned()),
            ("ssl.ca.location".to_owned(), "/etc/kafka/ca.pem".to_owned()),
        ]
    );
    let cli = parse(&["load", "--consumer-property", "security.protocol=SASL_SSL"]);
    let Command::Load(load) = cli.command else {
        panic!("not load");
    };
    assert_eq!(load.consumer_properties.len(), 1);

    let Command::Serve(serve) = parse(&["serve"]).command else {
        panic!("not serve");
    };
    if std::env::var_os("KAFKATX_ALLOW_AUTO_CREATE_TOPICS").is_none() {
        assert!(!serve.kafka_settings().allow_auto_create_topics);
    }
    let Command::Serve(serve) = parse(&["serve", "--allow-auto-create-topics"]).command else {
        panic!("not serve");
    };
    assert!(serve.kafka_settings().allow_auto_create_topics);
}

#[tokio::test]
async fn load_refuses_a_bad_connection_setting_before_the_load() {
    let cli = parse(&[
        "load",
        "--url",
        "http://127.0.0.1:9",
        "--requests",
        "1",
        "--consumer-property",
        "security.protocol=SSL",
        "--consumer-property",
        "ssl.ca.location=/nonexistent/ca.pem",
    ]);
    let Command::Load(args) = cli.command else {
        panic!("not load");
    };
    let error = kafkatx_tools::load::execute(&args).await.unwrap_err();
    assert!(error.to_string().contains("ssl.ca.location"), "{error}");
}
