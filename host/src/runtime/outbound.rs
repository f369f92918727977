//! Outbound HTTP for plugins, through `wasi:http/outgoing-handler`.
//!
//! A plugin reaches only the hosts its manifest was granted (`http("api.example.com")`,
//! `http("*.example.com")`, or `http("*")` for any public host), and never an internal address
//! (loopback, private, link-local, carrier-grade NAT, multicast, unspecified, reserved) unless an
//! admin allowed that network (`--allow-http-to 10.1.0.0/16`). The check runs on the addresses the
//! name resolves to, and the connection goes to the address that passed, so DNS cannot swap in
//! another between the check and the connect. Redirects are not followed here: a plugin that
//! follows one sends a new request, checked again. Connecting and the first byte are bounded in
//! time (the run's wall-clock limit bounds the rest), the response body in size, and every request
//! carries the run's id as `Idempotency-Key`, so a retried run does not repeat its effect at a
//! receiver that honours the key.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::uri::Scheme;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::grants::{Denial, Grants};
use super::run_log::SharedLog;
use crate::store::Store;

/// The header that carries the run id.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Host-wide rules for plugins' outbound HTTP.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// Internal networks plugins may reach all the same: the admin's explicit exception to the
    /// SSRF rule, for an intranet service a robot must call.
    pub allow_internal: Vec<IpNet>,
    /// Most bytes of a response body a plugin can read.
    pub max_response_bytes: u64,
    /// Longest wait to connect, and then for the response to start.
    pub timeout: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            allow_internal: Vec::new(),
            max_response_bytes: 1 << 20,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The policy and the TLS setup, shared by every run.
pub struct Outbound {
    policy: HttpPolicy,
    tls: tokio_rustls::TlsConnector,
}

impl Outbound {
    /// Sets up TLS with the web's root certificates.
    pub fn new(policy: HttpPolicy) -> Result<Self, rustls::Error> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            policy,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

/// Why a request the host made itself did not get an answer, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    /// What the run record says.
    pub reason: String,
    /// False when the rules refused it: another attempt is refused again.
    pub transient: bool,
}

/// A POST the host makes itself: an app robot's handler call, a text message to the gateway.
pub struct HostPost<'a> {
    /// Where to.
    pub url: &'a str,
    /// The body's media type.
    pub content_type: &'a str,
    /// One more header, name and value (the gateway's `Authorization`).
    pub header: Option<(&'a str, &'a str)>,
    /// The body.
    pub body: String,
    /// The `Idempotency-Key`: the run's id, or the message's.
    pub idempotency_key: &'a str,
}

impl Outbound {
    /// Sends a POST the host makes itself under the rules a plugin's requests follow: the
    /// resolved address is checked, connecting and the response are bounded in time and size,
    /// and the key goes as `Idempotency-Key`. Like a plugin's request it waits until what the
    /// host committed before is on disk. Answers the response's status.
    pub async fn post(&self, store: &Store, post: HostPost<'_>) -> Result<http::StatusCode, Unanswered> {
        let url = post.url;
        let refused = |reason: String| Unanswered {
            reason,
            transient: false,
        };
        let uri = http::Uri::try_from(url).map_err(|e| refused(format!("{url} is not a URL: {e}")))?;
        let target = Target::of(&uri).map_err(refused)?;
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let body = http_body_util::Full::new(Bytes::from(post.body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut request = http::Request::post(uri)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, post.content_type)
            .header(IDEMPOTENCY_KEY, post.idempotency_key);
        if let Some((name, value)) = post.header {
            request = request.header(name, value);
        }
        let request = request
            .body(body)
            .map_err(|e| refused(format!("the request cannot be made: {e}")))?;
        store.settle().await.map_err(|e| Unanswered {
            reason: format!("the host could not put its earlier writes on disk: {e}"),
            transient: true,
        })?;
        let unanswered = |refusal: Refusal| Unanswered {
            transient: !matches!(refusal.code, Error::DestinationIpProhibited | Error::HttpRequestDenied),
            reason: refusal.reason,
        };
        let (response, _connection) = send(self, target, request, None).await.map_err(unanswered)?;
        let status = response.status();
        response.into_body().collect().await.map_err(|e| Unanswered {
            reason: format!("reading the response: {e}"),
            transient: true,
        })?;
        Ok(status)
    }
}

/// The `wasi:http` hooks of one run: its grants, its id, and the log it writes its requests to.
pub struct RunHttp {
    outbound: Arc<Outbound>,
    store: Store,
    grants: Arc<Grants>,
    log: SharedLog,
    run_id: Option<String>,
}

impl RunHttp {
    /// Hooks for a run of a plugin with `grants`. A request waits until what the host committed
    /// before it is on disk ([`Store::settle`]): the run may follow a robot whose end is still on
    /// its way there, and a crash must not leave another system told of a change this host then
    /// lost.
    pub fn new(
        outbound: Arc<Outbound>,
        store: Store,
        grants: Arc<Grants>,
        log: SharedLog,
        run_id: Option<String>,
    ) -> Self {
        Self {
            outbound,
            store,
            grants,
            log,
            run_id,
        }
    }
}

/// Where a request goes.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Self, String> {
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
        })
    }
}

/// What kind of internal address this is, or `None` for a public one.
fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("multicast or broadcast")
    } else if a >= 240 || (a == 192 && b == 0 && ip.octets()[2] == 0) || (a == 198 && (18..20).contains(&b)) {
        Some("reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast or broadcast")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("private")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = s;
        internal_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if s[0] == 0x2001 && s[1] == 0xdb8 {
        Some("documentation")
    } else {
        None
    }
}

/// Why a request did not go out: what the guest is told, and what the run record says (a
/// capability's denial, or the reason).
struct Refusal {
    code: Error,
    reason: String,
    denial: Option<Denial>,
}

impl Refusal {
    fn denied(reason: String) -> Self {
        Self {
            code: Error::HttpRequestDenied,
            reason,
            denial: None,
        }
    }
}

type BoxedFuture<T> = Box<dyn Future<Output = Result<T, Error>> + Send>;

impl WasiHttpHooks for RunHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: BoxedFuture<()>,
    ) -> BoxedFuture<(http::Response<WasiBody>, BoxedFuture<()>)> {
        let line = format!("HTTP {} {}", request.method(), request.uri());
        let log = self.log.clone();
        let target = Target::of(request.uri()).map_err(Refusal::denied).and_then(|target| {
            self.grants
                .http(&target.host)
                .map(|()| target)
                .map_err(|denial| Refusal {
                    code: Error::HttpRequestDenied,
                    reason: String::new(),
                    denial: Some(denial),
                })
        });
        if let Some(run_id) = &self.run_id
            && let Ok(value) = HeaderValue::from_str(run_id)
        {
            request.headers_mut().entry(IDEMPOTENCY_KEY).or_insert(value);
        }
        let outbound = self.outbound.clone();
        let store = self.store.clone();
        Box::new(async move {
            let sent = match target {
                Ok(target) => match store.settle().await {
                    Ok(()) => send(&outbound, target, request, options).await,
                    Err(e) => Err(failure(
                        Error::InternalError(None),
                        format!("the host could not put its earlier writes on disk: {e}"),
                    )),
                },
                Err(refusal) => Err(refusal),
            };
            let mut log = log.lock().expect("run log lock");
            match sent {
                Ok((response, connection)) => {
                    log.push("info", format!("{line}: {}", response.status()));
                    Ok((response, connection))
                }
                Err(Refusal {
                    code,
                    denial: Some(denial),
                    ..
                }) => {
                    log.denied_request(&line, &denial);
                    Err(code)
                }
                Err(refusal) => {
                    log.push("error", format!("{line}: {}", refusal.reason));
                    Err(refusal.code)
                }
            }
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn send(
    outbound: &Outbound,
    target: Target,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, BoxedFuture<()>), Refusal> {
    let policy = &outbound.policy;
    let bounded = |asked: Option<Duration>| asked.map_or(policy.timeout, |d| d.min(policy.timeout));
    let connect_timeout = bounded(options.and_then(|o| o.connect_timeout));
    let first_byte_timeout = bounded(options.and_then(|o| o.first_byte_timeout));
    let address = resolve(policy, &target, connect_timeout).await?;
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| {
            failure(
                Error::ConnectionTimeout,
                format!("no connection to {address} within {connect_timeout:?}"),
            )
        })?
        .map_err(|e| failure(Error::ConnectionRefused, format!("cannot connect to {address}: {e}")))?;
    let stream: Box<dyn Stream> = if target.tls {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| failure(Error::HttpRequestUriInvalid, format!("{}: {e}", target.host)))?;
        let tls = tokio::time::timeout(connect_timeout, outbound.tls.connect(name, tcp))
            .await
            .map_err(|_| failure(Error::ConnectionTimeout, "TLS handshake timed out".into()))?
            .map_err(|e| failure(Error::TlsProtocolError, format!("TLS: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failure(Error::HttpProtocolError, format!("HTTP handshake: {e}")))?;
    let connection = tokio::spawn(connection);
    // The request line carries only the path: the authority went into the Host header.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|e| failure(Error::HttpRequestUriInvalid, e.to_string()))?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| {
            failure(
                Error::ConnectionReadTimeout,
                format!("no response within {first_byte_timeout:?}"),
            )
        })?
        .map_err(|e| failure(Error::HttpProtocolError, format!("{e}")))?;
    let max = policy.max_response_bytes;
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max) {
        return Err(failure(
            Error::HttpResponseBodySize(declared),
            format!("the response body is larger than the {max}-byte limit"),
        ));
    }
    let response = response.map(|body| CappedBody { body, left: max, max }.boxed_unsync());
    let connection: BoxedFuture<()> = Box::new(async move {
        match connection.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::from(e)),
            Err(e) => Err(Error::InternalError(Some(e.to_string()))),
        }
    });
    Ok((response, connection))
}

fn failure(code: Error, reason: String) -> Refusal {
    Refusal {
        code,
        reason,
        denial: None,
    }
}

/// The first address of the target that the policy lets a plugin reach; refuses the request if
/// any address the name resolves to is internal and not allowed (a name that mixes public and
/// internal addresses is a rebinding setup).
async fn resolve(policy: &HttpPolicy, target: &Target, timeout: Duration) -> Result<SocketAddr, Refusal> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((target.host.as_str(), target.port)))
            .await
            .map_err(|_| failure(Error::DnsTimeout, format!("resolving {} timed out", target.host)))?
            .map_err(|e| {
                failure(
                    Error::DnsError {
                        rcode: Some(e.to_string()),
                        info_code: None,
                    },
                    format!("cannot resolve {}: {e}", target.host),
                )
            })?
            .collect(),
    };
    for address in &addresses {
        let ip = address.ip();
        if let Some(kind) = internal_kind(ip)
            && !policy.allow_internal.iter().any(|net| net.contains(&ip))
        {
            return Err(failure(
                Error::DestinationIpProhibited,
                format!(
                    "refused: {} is {ip}, a {kind} address; an admin can allow its network with --allow-http-to",
                    target.host
                ),
            ));
        }
    }
    addresses.first().copied().ok_or_else(|| {
        failure(
            Error::DestinationNotFound,
            format!("{} resolves to no address", target.host),
        )
    })
}

/// A response body that stops with an error past the size limit.
struct CappedBody {
    body: Incoming,
    left: u64,
    max: u64,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(Error::from(e)))),
            Some(Ok(frame)) => frame,
        };
        let size = frame.data_ref().map_or(0, |data| data.len() as u64);
        if size > self.left {
            return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.max)))));
        }
        self.left -= size;
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        internal_kind(ip.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_recognised_in_every_spelling() {
        assert_eq!(kind("127.0.0.1"), Some("loopback"));
        assert_eq!(kind("10.2.3.4"), Some("private"));
        assert_eq!(kind("172.31.0.1"), Some("private"));
        assert_eq!(kind("192.168.1.1"), Some("private"));
        assert_eq!(kind("169.254.169.254"), Some("link-local"));
        assert_eq!(kind("0.0.0.0"), Some("unspecified"));
        assert_eq!(kind("100.100.0.1"), Some("carrier-grade NAT"));
        assert_eq!(kind("::1"), Some("loopback"));
        assert_eq!(kind("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(kind("64:ff9b::a00:1"), Some("private"));
        assert_eq!(kind("fd00::1"), Some("private"));
        assert_eq!(kind("fe80::1"), Some("link-local"));
        assert_eq!(kind("93.184.215.14"), None);
        assert_eq!(kind("2606:4700::1111"), None);
        assert_eq!(kind("172.32.0.1"), None);
    }
}
