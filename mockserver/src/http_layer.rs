//! The thin HTTP layer: converts axum/hyper requests to [`maxc_core::http::Request`]
//! values, calls the pure [`Service`] with the current time, applies transport effects
//! (delay, dropped connection, body cut mid-way), and converts the response back.
//!
//! Request bodies may be chunked; bodies above the limit get a 413 in the service's
//! error shape.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use maxc_core::http::{Method, Request, Service as Layer};
use tower::ServiceExt;

use crate::error::MockError;
use crate::service::{Service, WireEffect};
use crate::time::MockTime;

/// Default request body limit (512 MiB).
pub const DEFAULT_MAX_BODY: usize = 512 << 20;

/// The service shared between connections.
pub type SharedService = Arc<Mutex<Service>>;

/// Where the HTTP layer gets "now" from.
pub type Clock = Arc<dyn Fn() -> MockTime + Send + Sync>;

/// The real wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        MockTime::from_epoch_ms(ms)
    })
}

/// Locks the service, recovering from a poisoned lock (a panic elsewhere must not take
/// the whole mock down).
pub fn lock(svc: &SharedService) -> MutexGuard<'_, Service> {
    svc.lock().unwrap_or_else(|e| e.into_inner())
}

/// State of the HTTP layer.
#[derive(Clone)]
pub struct App {
    /// The service.
    pub service: SharedService,
    /// Time source.
    pub clock: Clock,
    /// Request body limit in bytes.
    pub max_body: usize,
    /// Run the service on tokio's blocking pool (keeps large decodes off the async
    /// workers). Turn off under turmoil, whose determinism needs everything on its
    /// own runtime.
    pub offload: bool,
}

impl App {
    /// An app over a service with the system clock and the default body limit.
    pub fn new(service: SharedService) -> Self {
        Self {
            service,
            clock: system_clock(),
            max_body: DEFAULT_MAX_BODY,
            offload: true,
        }
    }
}

/// The axum router: every path goes to the service.
pub fn router(app: App) -> Router {
    Router::new().fallback(handle).with_state(app)
}

fn convert_method(m: &http::Method) -> Option<Method> {
    Method::parse(m.as_str())
}

async fn handle(State(app): State<App>, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let method = convert_method(&parts.method);
    let mut mreq =
        match Request::from_path_and_query(method.unwrap_or(Method::Get), Layer::Tunnel, &pq) {
            Ok(r) => r,
            Err(_) => {
                let path = pq.split('?').next().unwrap_or("/").to_string();
                let bare = Request::new(Method::Get, Layer::Tunnel, path);
                let err = MockError::bad_request("InvalidURI", "Couldn't parse the specified URI.");
                let now = (app.clock)();
                let resp = lock(&app.service).reject(&bare, err, now);
                return to_axum(resp, WireEffect::None);
            }
        };
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        mreq.headers.append(k.as_str(), v);
    }
    if !mreq.headers.contains("host")
        && let Some(a) = parts.uri.authority()
    {
        mreq.headers.set("host", a.as_str());
    }
    let Some(_) = method else {
        let err = MockError::new(
            405,
            "MethodNotAllowed",
            format!("method {} is not supported", parts.method),
        );
        let now = (app.clock)();
        let resp = lock(&app.service).reject(&mreq, err, now);
        return to_axum(resp, WireEffect::None);
    };
    let too_big = || {
        MockError::new(
            413,
            "MaxMessageLengthExceeded",
            format!("Your request was too big (limit {} bytes).", app.max_body),
        )
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        let now = (app.clock)();
        let resp = lock(&app.service).reject(&mreq, too_big(), now);
        return to_axum(resp, WireEffect::None);
    }
    match Limited::new(body, app.max_body).collect().await {
        Ok(c) => mreq.body = c.to_bytes(),
        Err(e) => {
            let err = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_big()
            } else {
                MockError::bad_request(
                    "IncompleteBody",
                    format!(
                        "You did not provide the number of bytes specified by the Content-Length HTTP header: {e}"
                    ),
                )
            };
            let now = (app.clock)();
            let resp = lock(&app.service).reject(&mreq, err, now);
            return to_axum(resp, WireEffect::None);
        }
    }
    let now = (app.clock)();
    let reply = if app.offload {
        let svc = app.service.clone();
        match tokio::task::spawn_blocking(move || lock(&svc).serve(mreq, now)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "service task failed");
                let resp =
                    maxc_core::http::Response::new(500, Bytes::from_static(b"internal error"));
                return to_axum(resp, WireEffect::None);
            }
        }
    } else {
        lock(&app.service).serve(mreq, now)
    };
    if reply.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(reply.delay_ms)).await;
    }
    to_axum(reply.response, reply.wire)
}

fn to_axum(resp: maxc_core::http::Response, wire: WireEffect) -> axum::response::Response {
    let mut b = http::Response::builder().status(resp.status);
    for (k, v) in resp.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            b = b.header(name, value);
        }
    }
    let body = match wire {
        WireEffect::DropAfterBytes(n) => {
            let full = resp.body.len() as u64;
            Body::new(CutBody {
                data: Some(resp.body.slice(..n.min(resp.body.len()))),
                full_len: full,
            })
        }
        _ => Body::from(resp.body),
    };
    let mut out = b
        .body(body)
        .unwrap_or_else(|_| http::Response::new(Body::from("invalid response")));
    out.extensions_mut().insert(wire);
    out
}

/// A body that announces `full_len` bytes, sends `data`, then fails (hyper then closes
/// the connection mid-body).
struct CutBody {
    data: Option<Bytes>,
    full_len: u64,
}

impl HttpBody for CutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(d) = self.data.take()
            && !d.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped mid-body (injected fault)",
        ))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.full_len)
    }
}

/// The error returned to hyper to close a connection without a response.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped (injected fault)")
    }
}

impl std::error::Error for DropConnection {}

/// Calls the router for one hyper request; a `DropBeforeResponse` effect becomes an
/// error, which makes hyper close the connection without answering.
pub async fn call(
    router: Router,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, DropConnection> {
    let resp = match router.oneshot(req.map(Body::new)).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    if resp.extensions().get::<WireEffect>() == Some(&WireEffect::DropBeforeResponse) {
        return Err(DropConnection);
    }
    Ok(resp)
}
