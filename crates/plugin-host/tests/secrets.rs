//! Secret backends in the real host, with a real compiled plugin (`tests/plugins/loopback-secrets`)
//! and a loopback HTTP server: outbound HTTP reaches exactly the granted host, nothing else
//! (another host, raw TCP) gets out, and secret values stay out of errors and `Debug`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use driftless_e2e::LOOPBACK_SECRETS_PLUGIN;
use driftless_plugin_host::{
    ErrorClass, Limits, PluginError, PluginHost, PluginKind, SecretBackendPlugin, SecretReference,
};

const SECRET: &str = "s3cr3t-hunter2";

/// What the server saw: (path, `x-test` header).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

struct Server {
    addr: SocketAddr,
    seen: Seen,
}

/// A loopback server, one per test process, on a thread of its own (the host's calls block).
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let seen: Seen = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let state = seen.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let app = Router::new()
                    .route(
                        "/secret/{name}",
                        get(|State(seen): State<Seen>, Path(name): Path<String>, headers: HeaderMap| async move {
                            let marker = headers
                                .get("x-test")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            seen.lock().unwrap().push((format!("/secret/{name}"), marker));
                            match name.as_str() {
                                "password" => (StatusCode::OK, SECRET.to_owned()),
                                "slow" => {
                                    tokio::time::sleep(Duration::from_secs(30)).await;
                                    (StatusCode::OK, SECRET.to_owned())
                                }
                                _ => (StatusCode::NOT_FOUND, "no such secret".to_owned()),
                            }
                        }),
                    )
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the loopback server starts");
        Server { addr, seen }
    })
}

/// The compiled plugin with its port marker set to `port`.
fn plugin_bytes(port: u16) -> Vec<u8> {
    let mut wasm = std::fs::read(LOOPBACK_SECRETS_PLUGIN).unwrap();
    let marker = b"DRIFTLESS-LOOPBACK-SECRETS-PORT=00000";
    let at =
        wasm.windows(marker.len()).position(|w| w == marker).expect("the port marker is in the component");
    let patched = format!("DRIFTLESS-LOOPBACK-SECRETS-PORT={port:05}");
    wasm[at..at + marker.len()].copy_from_slice(patched.as_bytes());
    wasm
}

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(Limits::default()).unwrap())
}

/// The plugin, pointed at the loopback server and granted its host.
fn granted() -> &'static SecretBackendPlugin {
    static PLUGIN: OnceLock<SecretBackendPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let addr = server().addr;
        let grant = addr.to_string();
        host()
            .load_secret_backend("loopback-secrets.wasm", &plugin_bytes(addr.port()), &[grant.as_str()])
            .unwrap()
    })
}

fn url(path: &str) -> String {
    format!("http://{}{path}", server().addr)
}

#[test]
fn a_granted_host_is_reached_and_values_never_print() {
    let plugin = granted();
    assert_eq!(plugin.metadata().kind, PluginKind::SecretBackend);
    assert_eq!(plugin.hosts(), [server().addr.to_string()]);
    let refs = [SecretReference::new(url("/secret/password")), SecretReference::new(url("/secret/missing"))];
    let values = plugin.resolve(&refs).unwrap();
    assert_eq!(values.len(), 2);
    let value = values[0].as_ref().unwrap();
    assert_eq!(value.expose(), SECRET.as_bytes());
    assert_eq!(format!("{value:?} {value}"), "*** ***");
    let debug = format!("{values:?}");
    assert!(!debug.contains("hunter2") && !debug.contains("104, 117"), "{debug}");
    let err = values[1].as_ref().unwrap_err();
    assert!(err.contains("HTTP status 404"), "{err}");
    // The requests really went out, with the plugin's header.
    let seen = server().seen.lock().unwrap().clone();
    assert!(seen.contains(&("/secret/password".to_owned(), "loopback-secrets".to_owned())), "{seen:?}");
    assert!(plugin.resolve(&[]).unwrap().is_empty());
}

#[test]
fn a_plugin_asking_for_a_host_not_granted_is_refused_at_load_naming_both() {
    let addr = server().addr;
    let wasm = plugin_bytes(addr.port());
    for grants in [&[][..], &["127.0.0.1:1", "vault.example"][..]] {
        let err = host().load_secret_backend("loopback-secrets.wasm", &wasm, grants).unwrap_err();
        assert!(matches!(err, PluginError::Refused { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Input);
        let text = err.to_string();
        assert!(text.starts_with("plugin loopback-secrets.wasm refused: "), "{text}");
        assert!(text.contains(&format!("it asks for outbound-http({addr}), which is not granted")), "{text}");
        for grant in grants {
            assert!(text.contains(grant), "{text}");
        }
    }
    // A grant that is not `host[:port]` is refused as such.
    let err = host().load_secret_backend("loopback-secrets.wasm", &wasm, &["http://x/"]).unwrap_err();
    assert!(err.to_string().contains("`http://x/` is not `host` or `host:port`"), "{err}");
}

#[test]
fn a_request_to_another_host_fails_the_call_naming_plugin_and_host() {
    let plugin = granted();
    let port = server().addr.port();
    let before = server().seen.lock().unwrap().len();
    // The same server under another name is another host.
    let other = format!("localhost:{port}");
    let err = plugin
        .resolve(&[
            SecretReference::new(url("/secret/password")),
            SecretReference::new(format!("http://{other}/secret/password")),
        ])
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Denied { ref plugin, ref host, .. } if plugin == "loopback-secrets" && *host == other),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "plugin loopback-secrets tried to reach {other}, which it is not granted (it may reach: 127.0.0.1:{port})"
        )
    );
    // Only the granted request reached the server.
    let seen = server().seen.lock().unwrap()[before..].to_vec();
    assert!(seen.iter().all(|(path, _)| path == "/secret/password"), "{seen:?}");
    // And the plugin carries on.
    assert!(plugin.resolve(&[SecretReference::new(url("/secret/password"))]).unwrap()[0].is_ok());
}

#[test]
fn raw_tcp_is_refused_even_to_the_granted_host() {
    let plugin = granted();
    let values = plugin.resolve(&[SecretReference::new(format!("tcp://{}", server().addr))]).unwrap();
    let err = values[0].as_ref().unwrap_err();
    assert!(err.starts_with(&format!("tcp {}: ", server().addr)), "{err}");
}

#[test]
fn a_panic_holding_the_secret_stays_out_of_the_error() {
    let err =
        granted().resolve(&[SecretReference::new(format!("leak+{}", url("/secret/password")))]).unwrap_err();
    assert!(
        matches!(err, PluginError::Trap { ref plugin, ref stderr, .. } if plugin == "loopback-secrets" && stderr.is_empty()),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{err:?}");
}

#[test]
fn a_server_that_never_answers_cannot_hold_the_call_past_its_deadline() {
    let host = PluginHost::new(Limits { timeout: Duration::from_millis(500), ..Limits::default() }).unwrap();
    let addr = server().addr;
    let plugin = host
        .load_secret_backend("loopback-secrets.wasm", &plugin_bytes(addr.port()), &[&addr.to_string()])
        .unwrap();
    let started = std::time::Instant::now();
    let result = plugin.resolve(&[SecretReference::new(url("/secret/slow"))]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // Either the request timed out (an error for that reference) or the call was stopped.
    match result {
        // The plugin's own HTTP timeouts (waiting for the response, reading it) may fire
        // before the host's deadline.
        Ok(values) => assert!(values[0].as_ref().is_err_and(|e| e.contains("timed out")), "{values:?}"),
        Err(err) => assert!(matches!(err, PluginError::Timeout { .. }), "{err}"),
    }
}
