//! A small blocking HTTP client over `wasi:http`, for secret backends.
//!
//! Inside the host a request reaches only the hosts the backend declares in
//! [`SecretBackend::hosts`](crate::secrets::SecretBackend::hosts) and the operator grants; a
//! request anywhere else fails the whole call. There are no sockets: this is the only way out.
//! Outside WebAssembly (a plugin's native unit tests) every request fails with
//! [`HttpError::Unavailable`]; run the compiled plugin with `driftless-plugin-testing` to test
//! requests.
//!
//! ```no_run
//! use driftless_plugin_sdk::http::Request;
//!
//! # fn f() -> Result<(), driftless_plugin_sdk::http::HttpError> {
//! let response = Request::get("https://vault.example:8200/v1/kv/data/app")
//!     .header("x-vault-token", "...")
//!     .send()?;
//! assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```

use std::time::Duration;

/// Why a request failed. Messages name the URL's host, never headers or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `http(s)://host[:port][/path]`.
    InvalidUrl(String),
    /// The host refused the request (a host the plugin may not reach), or the connection or
    /// protocol failed.
    Failed(String),
    /// Not inside a host with `wasi:http` (e.g. in a native unit test).
    Unavailable,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::InvalidUrl(url) => {
                write!(f, "invalid URL `{url}`: expected http(s)://host[:port][/path]")
            }
            HttpError::Failed(reason) => f.write_str(reason),
            HttpError::Unavailable => f.write_str("HTTP is only available to a plugin running in the host"),
        }
    }
}

impl std::error::Error for HttpError {}

/// An HTTP request.
#[derive(Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `http(s)://host[:port][/path][?query]`.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// How long to wait for the connection, and then for the response. The host cuts it to
    /// what is left of the call's deadline in any case.
    pub timeout: Option<Duration>,
}

// Headers carry tokens: they are never printed.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request with `method` to `url`.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request with a body.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { body: body.into(), ..Self::new("POST", url) }
    }

    /// Add a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Set the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Send it and read the whole response.
    ///
    /// # Errors
    /// [`HttpError`].
    pub fn send(&self) -> Result<Response, HttpError> {
        let url = Url::parse(&self.url).ok_or_else(|| HttpError::InvalidUrl(self.url.clone()))?;
        imp::send(self, &url)
    }
}

/// A response, read whole.
#[derive(Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

// The body is usually the secret.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).finish_non_exhaustive()
    }
}

impl Response {
    /// The first value of a header, when it is text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A URL split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
            return None;
        }
        Some(Self { https, authority, path_with_query: path })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{HttpError, Request, Response, Url};

    pub(super) fn send(_: &Request, _: &Url<'_>) -> Result<Response, HttpError> {
        Err(HttpError::Unavailable)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasip2::io::streams::StreamError;

    use super::{HttpError, Request, Response, Url};

    /// Largest write `wasi:io` streams accept in one call.
    const CHUNK: usize = 4096;

    fn failed(url: &Url<'_>, what: &str) -> HttpError {
        HttpError::Failed(format!("HTTP request to {}: {what}", url.authority))
    }

    fn code(url: &Url<'_>, e: &ErrorCode) -> HttpError {
        let what = match e {
            ErrorCode::HttpRequestDenied => "denied: the plugin may not reach this host".to_owned(),
            ErrorCode::ConnectionRefused => "connection refused".to_owned(),
            ErrorCode::ConnectionTimeout => "connection timed out".to_owned(),
            ErrorCode::HttpResponseTimeout => "timed out waiting for the response".to_owned(),
            ErrorCode::ConnectionReadTimeout => "timed out reading from the connection".to_owned(),
            ErrorCode::ConnectionWriteTimeout => "timed out writing to the connection".to_owned(),
            ErrorCode::DnsTimeout => "DNS lookup timed out".to_owned(),
            other => format!("{other:?}"),
        };
        failed(url, &what)
    }

    pub(super) fn send(request: &Request, url: &Url<'_>) -> Result<Response, HttpError> {
        let entries: Vec<(String, Vec<u8>)> =
            request.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())).collect();
        let headers = Fields::from_list(&entries).map_err(|e| failed(url, &format!("bad header: {e:?}")))?;
        let outgoing = OutgoingRequest::new(headers);
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        };
        let invalid = |_| failed(url, "invalid request");
        outgoing.set_method(&method).map_err(invalid)?;
        outgoing.set_scheme(Some(if url.https { &Scheme::Https } else { &Scheme::Http })).map_err(invalid)?;
        outgoing.set_authority(Some(url.authority)).map_err(invalid)?;
        let path = if url.path_with_query.is_empty() { "/" } else { url.path_with_query };
        outgoing.set_path_with_query(Some(path)).map_err(invalid)?;
        let body = outgoing.body().map_err(invalid)?;
        let options = request.timeout.map(|t| {
            let options = RequestOptions::new();
            let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            // Refusals only mean the host sets its own bound, which it does anyway.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
            options
        });
        let future = outgoing_handler::handle(outgoing, options).map_err(|e| code(url, &e))?;
        {
            let stream = body.write().map_err(invalid)?;
            for chunk in request.body.chunks(CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|_| failed(url, "sending the body failed"))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| code(url, &e))?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(code(url, &e)),
            Some(Err(())) | None => return Err(failed(url, "no response")),
        };
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| failed(url, "no response body"))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| failed(url, "no response body"))?;
            loop {
                match stream.blocking_read(64 << 10) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(_)) => {
                        return Err(failed(url, "reading the response body failed"));
                    }
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response { status, headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("https://vault.example:8200/v1/kv?x=1#frag").unwrap();
        assert_eq!(url, Url { https: true, authority: "vault.example:8200", path_with_query: "/v1/kv?x=1" });
        let url = Url::parse("http://127.0.0.1:80").unwrap();
        assert_eq!(url, Url { https: false, authority: "127.0.0.1:80", path_with_query: "" });
        let url = Url::parse("http://h?q").unwrap();
        assert_eq!((url.authority, url.path_with_query), ("h", "?q"));
        for bad in ["ftp://h/", "h/x", "http:///x", "http://user@h/", "https://"] {
            assert_eq!(Url::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn natively_requests_say_they_need_the_host() {
        let err = Request::get("http://127.0.0.1:1/").send().unwrap_err();
        assert_eq!(err, HttpError::Unavailable);
        assert_eq!(Request::get("nope").send().unwrap_err(), HttpError::InvalidUrl("nope".into()));
        let debug = format!("{:?}", Request::get("http://h/").header("authorization", "Bearer hunter2"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
