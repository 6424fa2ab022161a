//! rustls client and server on graviola's provider, connected in memory on one thread: how many
//! TLS 1.3 handshakes (X25519, ECDSA P-256 certificate) per second, and how many MB/s one core
//! encrypts and decrypts (both sides' work, plus copies). The argument is the certs/ directory of
//! an `integration/kafka start --tls` instance (ca.crt, broker.crt, broker.key). A bench tool:
//! unwraps are fine here.
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn pump(c: &mut ClientConnection, s: &mut ServerConnection) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        while c.wants_write() {
            buf.clear();
            c.write_tls(&mut buf).unwrap();
            let mut r = &buf[..];
            let mut sink = [0u8; 65536];
            while !r.is_empty() {
                s.read_tls(&mut r).unwrap();
                s.process_new_packets().unwrap();
                loop { match s.reader().read(&mut sink) { Ok(0) => break, Ok(_) => {}, Err(_) => break } }
            }
            moved = true;
        }
        while s.wants_write() {
            buf.clear();
            s.write_tls(&mut buf).unwrap();
            let mut r = &buf[..];
            while !r.is_empty() { c.read_tls(&mut r).unwrap(); }
            c.process_new_packets().unwrap();
            moved = true;
        }
        if !moved { break; }
    }
}

fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let ca = CertificateDer::from_pem_file(format!("{dir}/ca.crt")).unwrap();
    let chain: Vec<_> = CertificateDer::pem_file_iter(format!("{dir}/broker.crt")).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/broker.key")).unwrap();
    let provider = Arc::new(rustls_graviola::default_provider());
    let server = Arc::new(ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap()
        .with_no_client_auth().with_single_cert(chain, key).unwrap());
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let client = Arc::new(ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap()
        .with_root_certificates(roots).with_no_client_auth());
    let name = ServerName::try_from("localhost").unwrap();
    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        let mut c = ClientConnection::new(client.clone(), name.clone()).unwrap();
        let mut s = ServerConnection::new(server.clone()).unwrap();
        pump(&mut c, &mut s);
        assert!(!c.is_handshaking());
    }
    let hs = n as f64 / t.elapsed().as_secs_f64();
    let mut c = ClientConnection::new(client.clone(), name.clone()).unwrap();
    let mut s = ServerConnection::new(server.clone()).unwrap();
    pump(&mut c, &mut s);
    println!("suite {:?}", c.negotiated_cipher_suite().unwrap().suite());
    let chunk = vec![7u8; 64 * 1024];
    let total: usize = 2 << 30;
    let mut sink = vec![0u8; 256 * 1024];
    let t = Instant::now();
    let mut sent = 0;
    while sent < total {
        c.writer().write_all(&chunk).unwrap();
        sent += chunk.len();
        pump(&mut c, &mut s);
        loop { match s.reader().read(&mut sink) { Ok(0) => break, Ok(_) => {}, Err(_) => break } }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("handshakes/s (client+server, TLS 1.3, X25519, ECDSA P-256): {hs:.0}");
    println!("bulk encrypt+decrypt on one core: {:.0} MB/s", total as f64 / secs / 1e6);
}
