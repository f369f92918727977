//! Outbound HTTP through `wasi:http`, the only way out of the sandbox.
//!
//! The host sends a request only to a host the manifest was granted
//! ([`Capability::Http`](crate::Capability::Http)), never to an internal address unless the admin
//! allowed its network, and adds the run id as `Idempotency-Key`. A refused request comes back as
//! [`HttpError::Refused`]; the reason is in the run record. Redirects are returned, not followed:
//! follow one with a new [`send`], which the host checks again.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Bytes written to the request body per host call (the stream's own limit).
const WRITE_CHUNK: usize = 4096;
/// Bytes read from the response body per host call.
const READ_CHUNK: u64 = 64 * 1024;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ... (upper case).
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// How long to wait to connect and then for the response to start (the host caps both).
    pub timeout: Duration,
}

/// A response, its body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header, by its name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The request cannot be made as given (bad URL, method or header).
    Invalid(String),
    /// The host refused it: a host not granted, or an internal address.
    Refused(String),
    /// The network or the server failed; trying later may help.
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "invalid request: {m}"),
            Self::Refused(m) => write!(f, "refused by the host: {m}"),
            Self::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl From<ErrorCode> for HttpError {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => Self::Refused(code.to_string()),
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => Self::Invalid(code.to_string()),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Sends a request and reads the whole response.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let outgoing = build(request)?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError::Invalid("the request body was taken twice".into()))?;
    let options = RequestOptions::new();
    let nanos = u64::try_from(request.timeout.as_nanos()).unwrap_or(u64::MAX);
    // A host that does not support a timeout keeps its own bound; nothing to do about it here.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let pending = outgoing_handler::handle(outgoing, Some(options))?;
    // The body streams to the host after `handle`; when the host refused the request the write
    // fails, and the response says why.
    let written = write_body(body, &request.body);
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(code.into()),
        Some(Err(())) | None => return Err(HttpError::Failed("the response was lost".into())),
    };
    written?;
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| HttpError::Failed("the response body was taken twice".into()))?;
    Ok(Response {
        status,
        headers,
        body: read_body(body)?,
    })
}

fn build(request: &Request) -> Result<OutgoingRequest, HttpError> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|e| HttpError::Invalid(format!("{}: {e}", request.url)))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        _ => {
            return Err(HttpError::Invalid(format!(
                "{} is not an http:// or https:// URL",
                request.url
            )));
        }
    };
    let authority = uri
        .authority()
        .filter(|a| !a.as_str().contains('@'))
        .ok_or_else(|| HttpError::Invalid(format!("{} needs a host (and no user name)", request.url)))?;
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into_bytes()))
        .collect();
    let headers = Fields::from_list(&entries).map_err(|e| HttpError::Invalid(format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| HttpError::Invalid(format!("{what} of {}", request.url));
    outgoing.set_method(&method).map_err(|()| invalid("the method"))?;
    outgoing.set_scheme(Some(&scheme)).map_err(|()| invalid("the scheme"))?;
    outgoing
        .set_authority(Some(authority.as_str()))
        .map_err(|()| invalid("the host"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("the path"))?;
    Ok(outgoing)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    {
        let stream = body
            .write()
            .map_err(|()| HttpError::Invalid("the request body stream was taken twice".into()))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream.blocking_write_and_flush(chunk).map_err(stream_error)?;
        }
    }
    Ok(OutgoingBody::finish(body, None)?)
}

fn read_body(body: IncomingBody) -> Result<Vec<u8>, HttpError> {
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| HttpError::Failed("the response body stream was taken twice".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(e)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

fn stream_error(error: StreamError) -> HttpError {
    match error {
        StreamError::Closed => HttpError::Failed("the connection closed early".into()),
        StreamError::LastOperationFailed(e) => match wasip2::http::types::http_error_code(&e) {
            Some(code) => code.into(),
            None => HttpError::Failed(e.to_debug_string()),
        },
    }
}
