//! The compiled `loopback-secrets` backend, run in the real host through
//! `driftless_plugin_sdk::testing::compiled`, against a loopback HTTP server: it fetches the
//! value from the granted host, is refused when that host is not granted, and cannot open a
//! raw TCP connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use driftless_plugin_sdk::testing::compiled::{self, Loader, PluginError, host::SecretReference};

const SECRET: &str = "loopback-value-42";

/// A server answering `requests` HTTP/1.1 requests on loopback, then stopping: `/secret` gets
/// [`SECRET`], anything else 404.
fn serve(requests: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // The headers, up to the blank line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request_line.starts_with("GET /secret ") {
                ("200 OK", SECRET)
            } else {
                ("404 Not Found", "no")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// The compiled component with its port marker set to `port` (see the crate's docs).
fn patched(port: u16) -> Vec<u8> {
    let path = compiled::build_plugin(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut wasm = std::fs::read(path).unwrap();
    let marker = b"DRIFTLESS-LOOPBACK-SECRETS-PORT=00000";
    let at =
        wasm.windows(marker.len()).position(|w| w == marker).expect("the port marker is in the component");
    wasm[at..at + marker.len()]
        .copy_from_slice(format!("DRIFTLESS-LOOPBACK-SECRETS-PORT={port:05}").as_bytes());
    wasm
}

#[test]
fn the_compiled_backend_fetches_from_the_granted_host() {
    let addr = serve(2);
    let granted = format!("127.0.0.1:{}", addr.port());
    let backend =
        Loader::from_wasm("loopback-secrets", patched(addr.port())).grant(&granted).secret_backend().unwrap();
    assert_eq!(backend.hosts(), [granted.as_str()]);
    let answers = backend
        .resolve(&[
            SecretReference::new(format!("http://{granted}/secret")),
            SecretReference::new(format!("http://{granted}/other")),
        ])
        .unwrap();
    assert_eq!(answers[0].as_ref().unwrap().expose(), SECRET.as_bytes());
    assert!(answers[1].as_ref().unwrap_err().contains("HTTP status 404"), "{:?}", answers[1]);
}

#[test]
fn the_compiled_backend_is_refused_without_a_grant_and_has_no_sockets() {
    // A live listener: were sockets open to the plugin, its connection would succeed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let wasm = patched(addr.port());
    let err = Loader::from_wasm("loopback-secrets", wasm.clone()).secret_backend().unwrap_err();
    assert!(
        matches!(&err, compiled::LoadError::Host(PluginError::Refused { reason, .. })
            if reason.contains(&format!("outbound-http(127.0.0.1:{})", addr.port()))),
        "{err:?}"
    );

    let backend = Loader::from_wasm("loopback-secrets", wasm)
        .grant(format!("127.0.0.1:{}", addr.port()))
        .secret_backend()
        .unwrap();
    let answers = backend.resolve(&[SecretReference::new(format!("tcp://{addr}"))]).unwrap();
    let err = answers[0].as_ref().unwrap_err();
    assert!(err.starts_with(&format!("tcp {addr}:")), "{err}");
    drop(listener);
}
