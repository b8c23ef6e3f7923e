//! `make console`: the status page on this machine, for an API deployed with IAM auth.
//!
//! A browser cannot sign requests with SigV4, so this server serves the page (the same
//! compiled-in files as `GET /` of the API) and forwards every other request to the
//! deployed API, signed for `execute-api` with the user's AWS credentials (the SDK's
//! default chain: environment, profile, SSO, …) by the `aws-sigv4` crate.
//!
//! Whoever drives it acts with those credentials, so it obeys only its user ([`Guard`]):
//! it listens on loopback only; it answers only requests whose `Host` is its own loopback
//! address (a page on another site that rebinds its name to 127.0.0.1 is refused); it
//! refuses a state-changing request unless its `Origin` is its own (or, without one,
//! `Sec-Fetch-Site` is `same-origin`); every request needs this run's random secret,
//! printed once in the URL it shows and then held in an `HttpOnly; SameSite=Strict`
//! cookie; it forwards only the routes of the API's OpenAPI document; and it refuses an
//! upstream that is not HTTPS, except on loopback.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use guard::Guard;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The service name API Gateway's IAM authorization checks.
pub const SERVICE: &str = "execute-api";
/// Largest request body forwarded (the API refuses more than 64 KiB anyway).
const MAX_BODY: usize = 1024 * 1024;
/// Request headers passed on; anything else (cookies, the browser's host) is dropped.
const FORWARDED: [HeaderName; 3] = [header::CONTENT_TYPE, header::ACCEPT, header::IF_NONE_MATCH];
/// Response headers passed back.
const RETURNED: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::RETRY_AFTER,
    header::ALLOW,
];

/// Why the console cannot start or forward.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("API URL {0:?} is not an http(s) URL like https://abc123.execute-api.eu-west-1.amazonaws.com/")]
    BadUrl(String),
    #[error("no AWS region: set AWS_REGION (it is not in the API URL {0:?}, which is not an execute-api host)")]
    NoRegion(String),
    #[error("no AWS credentials: {0} (configure them as for the AWS CLI, e.g. aws sso login or AWS_PROFILE)")]
    NoCredentials(String),
    #[error("could not sign the request: {0}")]
    Signing(String),
    #[error("API URL {0:?} is not HTTPS: signed requests go over HTTPS only (plain http only to a loopback address)")]
    NotHttps(String),
    #[error(
        "the console listens on loopback only; {0} is not a loopback address (set JOBS_CONSOLE_ADDR=127.0.0.1:<port>)"
    )]
    NotLoopback(String),
}

/// Where requests go and how they are signed.
#[derive(Clone)]
pub struct Upstream {
    /// Scheme and authority of the API, plus its base path (a stage name, or empty).
    base: Uri,
    region: String,
    credentials: SharedCredentialsProvider,
}

impl Upstream {
    /// `api` is the deployed API's URL; the region comes from `region`, or else from an
    /// `execute-api` host name.
    pub fn new(
        api: &str,
        region: Option<String>,
        credentials: SharedCredentialsProvider,
    ) -> Result<Self, ConsoleError> {
        let base: Uri = api.parse().map_err(|_| ConsoleError::BadUrl(api.to_owned()))?;
        if !matches!(base.scheme_str(), Some("https" | "http")) || base.authority().is_none() {
            return Err(ConsoleError::BadUrl(api.to_owned()));
        }
        if base.scheme_str() == Some("http") && !is_loopback_host(base.host().unwrap_or_default()) {
            return Err(ConsoleError::NotHttps(api.to_owned()));
        }
        let region = region
            .filter(|r| !r.is_empty())
            .or_else(|| region_of_host(base.host().unwrap_or_default()))
            .ok_or_else(|| ConsoleError::NoRegion(api.to_owned()))?;
        Ok(Self {
            base,
            region,
            credentials,
        })
    }

    /// The upstream URL of a local path and query (`/jobs?limit=5`).
    fn url(&self, path_and_query: &str) -> String {
        let base_path = self.base.path().trim_end_matches('/');
        format!(
            "{}://{}{base_path}{path_and_query}",
            self.base.scheme_str().unwrap_or("https"),
            self.base.authority().map(|a| a.as_str()).unwrap_or_default()
        )
    }

    /// Checks that credentials can be had, so a missing setup fails at start-up.
    pub async fn check_credentials(&self) -> Result<(), ConsoleError> {
        self.credentials().await.map(|_| ())
    }

    async fn credentials(&self) -> Result<Credentials, ConsoleError> {
        self.credentials
            .provide_credentials()
            .await
            .map_err(|e| ConsoleError::NoCredentials(aws_sdk_display(&e)))
    }

    /// `request` with SigV4 headers added (`authorization`, `x-amz-date`, and
    /// `x-amz-security-token` for temporary credentials).
    pub async fn sign(&self, request: &mut axum::http::Request<Bytes>) -> Result<(), ConsoleError> {
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ConsoleError::Signing(e.to_string()))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| v.to_str().map(|v| (k.as_str(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConsoleError::Signing(e.to_string()))?;
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| ConsoleError::Signing(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| ConsoleError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// Whether `host` (a URL's host: a name, an IPv4 address or a bracketed IPv6 one) is this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The region of an `<id>.execute-api.<region>.amazonaws.com[.cn]` host.
pub fn region_of_host(host: &str) -> Option<String> {
    let mut labels = host.split('.');
    let (_id, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    (service == "execute-api" && labels.next() == Some("amazonaws")).then(|| region.to_owned())
}

struct Proxy {
    upstream: Upstream,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    routes: ApiRoutes,
}

/// The console's router: the page's three files and the API's routes forwarded signed,
/// everything behind `guard`.
pub fn router(upstream: Upstream, guard: Guard) -> Router {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .expect("the system's CA certificates load")
        .https_or_http()
        .enable_http1()
        .build();
    let proxy = Arc::new(Proxy {
        upstream,
        client: Client::builder(TokioExecutor::new()).build(https),
        routes: ApiRoutes::from_document(),
    });
    Router::new()
        .route("/", get(lambdas::routes::console::page))
        .route("/console.css", get(lambdas::routes::console::style))
        .route("/console.js", get(lambdas::routes::console::script))
        .fallback(forward)
        .with_state(proxy)
        .layer(axum::middleware::from_fn_with_state(Arc::new(guard), guard::check))
}

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message.to_string()}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    if !proxy.routes.contains(request.method(), request.uri().path()) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "{} {} is not a route of the API's OpenAPI document; the console forwards those only",
                request.method(),
                request.uri().path()
            ),
        );
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is over 1 MiB",
            );
        }
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut outgoing = axum::http::Request::new(body);
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.uri_mut() = match proxy.upstream.url(path).parse() {
        Ok(uri) => uri,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", format!("bad path: {e}")),
    };
    copy(&parts.headers, outgoing.headers_mut(), &FORWARDED);
    if let Some(host) = outgoing.uri().authority().map(|a| a.as_str().to_owned())
        && let Ok(host) = HeaderValue::from_str(&host)
    {
        outgoing.headers_mut().insert(header::HOST, host);
    }
    if let Err(e) = proxy.upstream.sign(&mut outgoing).await {
        return error(StatusCode::BAD_GATEWAY, "signing_failed", e);
    }
    let (head, body) = outgoing.into_parts();
    let response = match proxy
        .client
        .request(axum::http::Request::from_parts(head, Full::new(body)))
        .await
    {
        Ok(response) => response,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("the API did not answer: {e}"),
            );
        }
    };
    let (head, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
                format!("the API's answer broke off: {e}"),
            );
        }
    };
    let mut reply = Response::new(Body::from(bytes));
    *reply.status_mut() = head.status;
    copy(&head.headers, reply.headers_mut(), &RETURNED);
    reply
}

fn copy(from: &HeaderMap, to: &mut HeaderMap, names: &[HeaderName]) {
    for name in names {
        if let Some(value) = from.get(name) {
            to.insert(name.clone(), value.clone());
        }
    }
}

fn aws_sdk_display(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The method and path templates of the API's OpenAPI document (`lambdas::openapi`).
struct ApiRoutes(Vec<(String, Vec<String>)>);

impl ApiRoutes {
    fn from_document() -> Self {
        let doc = serde_json::to_value(<lambdas::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap_or_default();
        let mut routes = Vec::new();
        for (path, operations) in doc["paths"].as_object().into_iter().flatten() {
            let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            for method in operations
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_uppercase())
            {
                routes.push((method, segments.clone()));
            }
        }
        Self(routes)
    }

    /// Whether `method path` is one of them (a `{param}` segment matches any one non-empty segment).
    fn contains(&self, method: &axum::http::Method, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().any(|(m, template)| {
            m == method.as_str()
                && template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    if t.starts_with('{') && t.ends_with('}') {
                        !s.is_empty()
                    } else {
                        t == s
                    }
                })
        })
    }
}

mod guard;
#[cfg(test)]
mod tests;
