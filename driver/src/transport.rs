//! Carrying core request values over HTTP.
//!
//! [`Transport`] is the one seam between the pure core and a network: send a request value,
//! get a reply value. [`HyperTransport`] implements it with hyper's pooled client over any
//! connector (tokio TCP in production, turmoil's simulated TCP in the simulator), signs every
//! request with the wall clock at send time, enforces a timeout, and discovers the tunnel
//! endpoint on first use.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use maxc_core::auth::Signer;
use maxc_core::http::{Headers, Method, Request, Response, Service};
use maxc_core::machine::{Reply, TransportError, TransportErrorKind};
use tracing::{Instrument, debug, debug_span};

use crate::clock::{SystemWallClock, WallClockSource};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends request values and returns reply values.
pub trait Transport: Send + Sync + 'static {
    /// Sends one request. Never panics; failures come back as [`TransportError`]s.
    fn send(&self, request: Request) -> BoxFuture<'static, Reply>;
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn send(&self, request: Request) -> BoxFuture<'static, Reply> {
        (**self).send(request)
    }
}

/// Where the two services live and how to reach them.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// REST endpoint including its path prefix, e.g. `http://127.0.0.1:8080/api`.
    pub endpoint: String,
    /// Tunnel endpoint (`http://host:port`); discovered through the REST service when `None`.
    pub tunnel_endpoint: Option<String>,
    /// Project used for tunnel endpoint discovery.
    pub project: String,
    /// Quota name passed to tunnel endpoint discovery.
    pub quota_name: Option<String>,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout: Duration,
}

impl TransportConfig {
    /// A config with default timeouts (60 s per request, 1 GiB bodies).
    pub fn new(endpoint: impl Into<String>, project: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            tunnel_endpoint: None,
            project: project.into(),
            quota_name: None,
            timeout: Duration::from_secs(60),
            max_response_bytes: 1 << 30,
            pool_idle_timeout: Duration::from_secs(30),
        }
    }
}

struct Inner<C> {
    client: Client<C, Full<Bytes>>,
    config: TransportConfig,
    tunnel: RwLock<Option<String>>,
    signer: Option<Signer>,
    clock: Arc<dyn WallClockSource>,
}

/// hyper-based [`Transport`], generic over the connector.
pub struct HyperTransport<C = HttpConnector> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for HyperTransport<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl HyperTransport<HttpConnector> {
    /// A transport over real TCP with the system wall clock.
    pub fn tcp(config: TransportConfig, signer: Option<Signer>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        Self::with_connector(connector, config, signer, Arc::new(SystemWallClock))
    }
}

impl<C> HyperTransport<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// A transport over any hyper connector and wall clock (the simulator passes its own).
    pub fn with_connector(
        connector: C,
        config: TransportConfig,
        signer: Option<Signer>,
        clock: Arc<dyn WallClockSource>,
    ) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector);
        let tunnel = RwLock::new(config.tunnel_endpoint.clone());
        Self {
            inner: Arc::new(Inner {
                client,
                config,
                tunnel,
                signer,
                clock,
            }),
        }
    }

    /// The tunnel endpoint in use, if known yet.
    pub fn tunnel_endpoint(&self) -> Option<String> {
        self.inner.tunnel.read().ok().and_then(|g| g.clone())
    }
}

impl<C> Inner<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    async fn base_for(&self, service: Service) -> Result<String, TransportError> {
        match service {
            Service::Rest => Ok(self.config.endpoint.trim_end_matches('/').to_string()),
            Service::Tunnel => {
                if let Some(t) = self.tunnel.read().ok().and_then(|g| g.clone()) {
                    return Ok(t);
                }
                let discovered = self.discover_tunnel().await?;
                if let Ok(mut g) = self.tunnel.write() {
                    *g = Some(discovered.clone());
                }
                Ok(discovered)
            }
        }
    }

    async fn discover_tunnel(&self) -> Result<String, TransportError> {
        let mut req = Request::new(
            Method::Get,
            Service::Rest,
            format!("/projects/{}/tunnel", self.config.project),
        )
        .with_query("service", "");
        if let Some(q) = &self.config.quota_name {
            req = req.with_query("quotaName", q.clone());
        }
        req = req.with_query("curr_project", self.config.project.clone());
        let resp = self.send_to(&self.config.endpoint.clone(), req).await?;
        if !resp.is_success() {
            return Err(TransportError::new(
                TransportErrorKind::Other,
                format!(
                    "tunnel endpoint discovery failed with HTTP {}: {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                ),
            ));
        }
        let host = String::from_utf8_lossy(&resp.body).trim().to_string();
        if host.is_empty() {
            return Err(TransportError::new(
                TransportErrorKind::Other,
                "tunnel endpoint discovery returned an empty body",
            ));
        }
        if host.starts_with("http://") || host.starts_with("https://") {
            return Ok(host.trim_end_matches('/').to_string());
        }
        let scheme = if self.config.endpoint.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        Ok(format!("{scheme}://{host}"))
    }

    async fn send_to(&self, base: &str, mut request: Request) -> Result<Response, TransportError> {
        if let Some(signer) = &self.signer {
            signer.sign(&mut request, self.clock.now());
        }
        let uri = format!("{}{}", base.trim_end_matches('/'), request.path_and_query());
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(&uri);
        for (k, v) in request.headers.iter() {
            if k == "content-length" || k == "host" {
                continue;
            }
            builder = builder.header(k, v);
        }
        let hreq = builder.body(Full::new(request.body.clone())).map_err(|e| {
            TransportError::new(TransportErrorKind::Other, format!("bad request {uri}: {e}"))
        })?;
        let fut = async {
            let resp = self.client.request(hreq).await.map_err(|e| {
                let kind = if e.is_connect() {
                    TransportErrorKind::Connect
                } else {
                    TransportErrorKind::Closed
                };
                TransportError::new(kind, format!("{uri}: {e}"))
            })?;
            let status = resp.status().as_u16();
            let headers: Headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v)))
                .collect();
            let body = Limited::new(resp.into_body(), self.config.max_response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    TransportError::new(
                        TransportErrorKind::Closed,
                        format!("{uri}: reading the response body failed: {e}"),
                    )
                })?
                .to_bytes();
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::new(
                TransportErrorKind::Timeout,
                format!("{uri}: no response within {:?}", self.config.timeout),
            )),
        }
    }
}

impl<C> Transport for HyperTransport<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn send(&self, request: Request) -> BoxFuture<'static, Reply> {
        let inner = Arc::clone(&self.inner);
        let span = debug_span!("request", method = %request.method, path = %request.path);
        Box::pin(
            async move {
                let base = inner.base_for(request.service).await?;
                let r = inner.send_to(&base, request).await;
                match &r {
                    Ok(resp) => debug!(status = resp.status, bytes = resp.body.len(), "response"),
                    Err(e) => debug!(error = %e, "transport error"),
                }
                r
            }
            .instrument(span),
        )
    }
}
