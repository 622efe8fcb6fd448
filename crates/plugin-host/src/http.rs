//! Outbound HTTP for secret backends: `wasi:http` requests pass a gate that lets through only
//! the hosts the plugin declared (and the operator granted), and bounds every request by the
//! call's deadline. No sockets: `wasi:sockets` stays denied, so this is the only way out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One `host[:port]` a plugin may reach. A grant without a port means the scheme's default
/// port (443 for `https`, 80 for `http`); host names compare without regard to ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    /// Parse a grant: `host` or `host:port`, nothing else (no scheme, user, path or `*`).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.contains(['@', '/', '?', '#', '*', ' ']) {
            return None;
        }
        let authority: http::uri::Authority = text.parse().ok()?;
        let host = authority.host();
        if host.is_empty() {
            return None;
        }
        // `http` accepts any text after the colon as a port; a grant's port must be a number.
        let port = match &text[host.len()..] {
            "" => None,
            rest => Some(rest.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        Some(Self { host: host.to_ascii_lowercase(), port })
    }

    /// Whether a request to `uri` goes to this authority.
    fn matches(&self, uri: &http::Uri) -> bool {
        let Some(authority) = uri.authority() else { return false };
        if !authority.host().eq_ignore_ascii_case(&self.host) {
            return false;
        }
        let default = match uri.scheme_str() {
            Some("https") => 443,
            Some("http") => 80,
            _ => return false,
        };
        authority.port_u16().unwrap_or(default) == self.port.unwrap_or(default)
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The `wasi:http` hooks of one call.
pub(crate) struct HttpGate {
    plugin: Arc<str>,
    allowed: Arc<[Authority]>,
    deadline: Instant,
    /// The first host the plugin tried and may not reach.
    denied: Option<String>,
}

impl HttpGate {
    pub(crate) fn new(plugin: &str, allowed: Arc<[Authority]>, deadline: Instant) -> Self {
        Self { plugin: Arc::from(plugin), allowed, deadline, denied: None }
    }

    /// The host of the first refused request, if there was one.
    pub(crate) fn take_denied(&mut self) -> Option<String> {
        self.denied.take()
    }

    /// The hosts the plugin may reach, for error messages.
    pub(crate) fn granted(&self) -> String {
        if self.allowed.is_empty() {
            return "none".to_owned();
        }
        self.allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        _ = fut;
        let uri = request.uri();
        if !self.allowed.iter().any(|a| a.matches(uri)) {
            let host = uri.authority().map_or_else(|| "(no host)".to_owned(), ToString::to_string);
            tracing::warn!(plugin = %self.plugin, %host, "refused an HTTP request to a host the plugin is not granted");
            self.denied.get_or_insert(host);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // A blocked guest is waiting in the host, where epochs cannot stop it: the request's
        // own timeouts are what end it, so none may outlast the call.
        let remaining = self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let cap = |t: Option<Duration>| Some(t.map_or(remaining, |t| t.min(remaining)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = match tokio::time::timeout(remaining, send).await {
                Ok(sent) => sent?,
                Err(_) => return Err(HttpError::ConnectionTimeout),
            };
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_as_host_and_optional_port() {
        assert_eq!(Authority::parse("Vault.Example:8200").unwrap().to_string(), "vault.example:8200");
        assert_eq!(Authority::parse("vault.example").unwrap().to_string(), "vault.example");
        assert_eq!(Authority::parse("[::1]:8080").unwrap().to_string(), "[::1]:8080");
        for bad in [
            "",
            "*",
            "*.example",
            "https://vault",
            "user@vault",
            "vault/x",
            "vault:port",
            "vault:",
            "vault:99999",
            "a b",
        ] {
            assert_eq!(Authority::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn requests_match_exactly() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        let with_port = Authority::parse("127.0.0.1:8200").unwrap();
        assert!(with_port.matches(&uri("http://127.0.0.1:8200/v1/x")));
        assert!(!with_port.matches(&uri("http://127.0.0.1:8201/v1/x")));
        assert!(!with_port.matches(&uri("http://127.0.0.1/v1/x")));
        assert!(!with_port.matches(&uri("http://127.0.0.2:8200/")));
        let bare = Authority::parse("vault.example").unwrap();
        assert!(bare.matches(&uri("https://vault.example/v1")));
        assert!(bare.matches(&uri("https://VAULT.example:443/v1")));
        assert!(bare.matches(&uri("http://vault.example/v1")));
        assert!(!bare.matches(&uri("https://vault.example:8443/v1")));
        assert!(!bare.matches(&uri("https://vault.example.evil/v1")));
        assert!(!bare.matches(&uri("https://evil.vault.example/v1")));
        assert!(!bare.matches(&uri("/relative")));
    }
}
