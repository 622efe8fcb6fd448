//! A secret backend for tests of outbound HTTP: it resolves `http://...` references by
//! fetching them, and on request tries what it may not.
//!
//! It declares one host, `127.0.0.1:PORT`. The port of a test's loopback server is only known
//! at run time, so it is read from [`PORT_MARKER`], which tests patch in the compiled
//! component (same length, five zero-padded digits) before loading it.
//!
//! References:
//! - `http://...` / `https://...`: GET it; the body is the value, a status other than 2xx an
//!   error.
//! - `tcp://HOST:PORT`: open a raw TCP connection (there are no sockets: it must fail).
//! - `leak+http://...`: fetch the value, then panic with it in the message (the host must
//!   keep the plugin's stderr out of errors).

use driftless_plugin_sdk::http::Request;
use driftless_plugin_sdk::secrets::{Reference, SecretBackend};

/// Patched by tests: the last five characters are the port of the declared host.
pub static PORT_MARKER: &str = "DRIFTLESS-LOOPBACK-SECRETS-PORT=00000";

/// The port in [`PORT_MARKER`]; read through `black_box` so that the text stays in the binary.
fn port() -> u16 {
    let marker = std::hint::black_box(PORT_MARKER);
    marker[marker.len() - 5..].parse().unwrap_or(0)
}

fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let response =
        Request::get(url).header("x-test", "loopback-secrets").send().map_err(|e| e.to_string())?;
    if !response.is_success() {
        return Err(format!("{url}: HTTP status {}", response.status));
    }
    Ok(response.body)
}

/// The backend.
pub struct LoopbackSecrets;

impl SecretBackend for LoopbackSecrets {
    const NAME: &'static str = "loopback-secrets";

    fn hosts() -> Vec<String> {
        vec![format!("127.0.0.1:{}", port())]
    }

    #[allow(clippy::panic)]
    fn resolve(reference: &Reference) -> Result<Vec<u8>, String> {
        let uri = reference.uri.as_str();
        if let Some(addr) = uri.strip_prefix("tcp://") {
            return match std::net::TcpStream::connect(addr) {
                Ok(_) => Ok(b"connected".to_vec()),
                Err(e) => Err(format!("tcp {addr}: {e}")),
            };
        }
        if let Some(url) = uri.strip_prefix("leak+") {
            let value = fetch(url)?;
            panic!("leaking {}", String::from_utf8_lossy(&value));
        }
        fetch(uri)
    }
}

driftless_plugin_sdk::export_secret_backend!(LoopbackSecrets);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_holds_a_port_and_requests_need_the_host() {
        assert_eq!(port(), 0);
        assert_eq!(LoopbackSecrets::hosts(), ["127.0.0.1:0"]);
        let err = LoopbackSecrets::resolve(&Reference::new("http://127.0.0.1:1/x")).unwrap_err();
        assert!(err.contains("only available to a plugin running in the host"), "{err}");
    }
}
