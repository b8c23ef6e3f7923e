//! The console against a local stand-in for API Gateway that checks each request's SigV4
//! signature: recomputed from the request as it arrived, with the same credentials.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use http_body_util::BodyExt;

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(KEY, SECRET, Some(TOKEN.into()), None, "test"))
}

/// What API Gateway's IAM check would do, in short: the signature must be the one these
/// credentials give for this very request (method, host, path, query, signed headers, body).
fn verify(method: &str, uri: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .ok_or("no authorization header")?
        .to_str()
        .unwrap();
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .ok_or(format!("no {name}"))
    };
    let scope: Vec<&str> = field("Credential")?.split('/').collect();
    if scope.len() != 5
        || scope[0] != KEY
        || scope[2] != "eu-west-1"
        || scope[3] != SERVICE
        || scope[4] != "aws4_request"
    {
        return Err(format!("bad credential scope {scope:?}"));
    }
    let signed: Vec<&str> = field("SignedHeaders")?.split(';').collect();
    for needed in ["host", "x-amz-date", "x-amz-security-token"] {
        if !signed.contains(&needed) {
            return Err(format!("{needed} is not signed: {signed:?}"));
        }
    }
    let signature = field("Signature")?;
    if signature.len() != 64 || !signature.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("malformed signature {signature}"));
    }
    let date = headers["x-amz-date"].to_str().unwrap();
    let time = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ").map_err(|e| e.to_string())?;
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(time.and_utc().timestamp() as u64);
    let identity = Credentials::new(KEY, SECRET, Some(TOKEN.into()), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .filter(|h| !matches!(**h, "x-amz-date" | "x-amz-security-token"))
        .map(|h| (*h, headers[*h].to_str().unwrap()))
        .collect();
    let request = SignableRequest::new(method, uri, pairs.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (_, expected) = sign(request, &params).unwrap().into_parts();
    if expected != signature {
        return Err("signature does not match the request".into());
    }
    Ok(())
}

/// Starts the stand-in API on a free port; it answers 200 with what it saw, or 403.
async fn fake_api() -> String {
    fake_api_counting().await.0
}

/// [`fake_api`], and how many requests reached it.
async fn fake_api_counting() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = Router::new().fallback(async move |request: Request| {
        seen.fetch_add(1, Ordering::SeqCst);
        let (parts, body) = request.into_parts();
        let body: Bytes = body.collect().await.unwrap().to_bytes();
        let host = parts.headers["host"].to_str().unwrap().to_owned();
        let uri = format!("http://{host}{}", parts.uri.path_and_query().unwrap());
        match verify(parts.method.as_str(), &uri, &parts.headers, &body) {
            Ok(()) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({"method": parts.method.as_str(), "path": parts.uri.to_string(),
                                   "body": String::from_utf8_lossy(&body)})
                .to_string(),
            ),
            Err(why) => (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain")], why),
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/stage"), hits)
}

const CONSOLE: &str = "127.0.0.1:8080";
const SECRET_FOR_TESTS: &str = "0123456789abcdef0123456789abcdef";

fn guard() -> Guard {
    Guard::with_secret(CONSOLE.parse().unwrap(), SECRET_FOR_TESTS.into()).unwrap()
}

/// A request as the console's own page sends it: its Host, its cookie, its Origin.
fn own(method: &str, path: &str) -> axum::http::request::Builder {
    sent(method, path, CONSOLE, Some(&format!("http://{CONSOLE}")))
}

/// A request with the console's cookie, for `host`, from `origin`.
fn sent(method: &str, path: &str, host: &str, origin: Option<&str>) -> axum::http::request::Builder {
    let builder = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("cookie", format!("theme=dark; {}={SECRET_FOR_TESTS}", guard::COOKIE));
    match origin {
        Some(origin) => builder.header("origin", origin),
        None => builder,
    }
}

async fn call(app: &Router, request: axum::http::Request<Body>) -> (StatusCode, String) {
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn forwards_signed_requests_the_api_can_verify() {
    let api = fake_api().await;
    let upstream = Upstream::new(&api, Some("eu-west-1".into()), credentials()).unwrap();
    let app = router(upstream, guard());

    let (status, body) = call(
        &app,
        own("GET", "/jobs?status=FAILED&limit=5").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        seen["path"], "/stage/jobs?status=FAILED&limit=5",
        "the stage path is kept"
    );

    let request = own("POST", "/jobs/abc/cancel")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"x":1}"#))
        .unwrap();
    let (status, body) = call(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#"{\"x\":1}"#), "{body}");

    // The page itself is served locally, not forwarded.
    let (status, page) = call(&app, own("GET", "/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Job API status"));
}

#[tokio::test]
async fn the_stand_in_refuses_what_is_not_signed_by_these_credentials() {
    let api = fake_api().await;
    let wrong = SharedCredentialsProvider::new(Credentials::new(KEY, "not-the-secret", Some(TOKEN.into()), None, "t"));
    let app = router(Upstream::new(&api, Some("eu-west-1".into()), wrong).unwrap(), guard());
    let (status, body) = call(&app, own("GET", "/jobs").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("does not match"), "{body}");
}

#[test]
fn region_and_url_are_checked() {
    assert_eq!(
        region_of_host("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(region_of_host("example.com"), None);
    assert!(matches!(
        Upstream::new("ftp://x", None, credentials()),
        Err(ConsoleError::BadUrl(_))
    ));
    assert!(matches!(
        Upstream::new("https://example.com/", None, credentials()),
        Err(ConsoleError::NoRegion(_))
    ));
    let up = Upstream::new("https://abc.execute-api.us-east-2.amazonaws.com/", None, credentials()).unwrap();
    assert_eq!(up.region, "us-east-2");
    assert_eq!(
        up.url("/jobs?x=1"),
        "https://abc.execute-api.us-east-2.amazonaws.com/jobs?x=1"
    );
}

/// Each way a page elsewhere (or another user of the machine) might drive the console is
/// refused, and nothing reaches the API.
#[tokio::test]
async fn the_console_refuses_all_but_its_own_page_and_forwards_nothing_then() {
    let (api, hits) = fake_api_counting().await;
    let app = router(
        Upstream::new(&api, Some("eu-west-1".into()), credentials()).unwrap(),
        guard(),
    );
    let schedule = || Body::from(r#"{"cron":"* * * * *"}"#);
    let refusals = [
        (
            "cross-origin POST",
            sent("POST", "/jobs/schedule", CONSOLE, Some("https://evil.example")).body(schedule()),
            403,
            "cross_origin",
        ),
        (
            "POST, no Origin, cross-site fetch",
            sent("POST", "/jobs", CONSOLE, None)
                .header("sec-fetch-site", "cross-site")
                .body(schedule()),
            403,
            "cross_origin",
        ),
        (
            "POST, neither header",
            sent("POST", "/jobs", CONSOLE, None).body(schedule()),
            403,
            "cross_origin",
        ),
        (
            "foreign Host (DNS rebinding)",
            sent("GET", "/jobs", "evil.example:8080", None).body(Body::empty()),
            421,
            "foreign_host",
        ),
        (
            "no secret",
            axum::http::Request::get("/jobs")
                .header("host", CONSOLE)
                .body(Body::empty()),
            401,
            "no_secret",
        ),
        (
            "wrong secret in the URL",
            own("GET", "/?secret=guess").body(Body::empty()),
            401,
            "bad_secret",
        ),
        (
            "a path outside the document",
            own("GET", "/admin/keys").body(Body::empty()),
            404,
            "not_found",
        ),
        (
            "a method outside the document",
            own("DELETE", "/jobs/stats").body(Body::empty()),
            404,
            "not_found",
        ),
    ];
    for (what, request, status, code) in refusals {
        let (got, body) = call(&app, request.unwrap()).await;
        assert_eq!(got.as_u16(), status, "{what}: {body}");
        assert!(body.contains(code), "{what}: {body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was forwarded");

    // Its own page: without Origin but same-origin per Sec-Fetch-Site, it is forwarded.
    let request = sent("POST", "/jobs", CONSOLE, None).header("sec-fetch-site", "same-origin");
    let (status, body) = call(&app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_printed_url_sets_the_secret_as_a_strict_http_only_cookie() {
    let (api, hits) = fake_api_counting().await;
    let guard = guard();
    let url = guard.url();
    assert_eq!(url, format!("http://{CONSOLE}/?secret={SECRET_FOR_TESTS}"));
    let app = router(
        Upstream::new(&api, Some("eu-west-1".into()), credentials()).unwrap(),
        guard,
    );
    let path = url.trim_start_matches(&format!("http://{CONSOLE}"));
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        axum::http::Request::get(path)
            .header("host", CONSOLE)
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/", "the secret leaves the address bar");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("{}={SECRET_FOR_TESTS};", guard::COOKIE)),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (status, _) = call(
        &app,
        sent("GET", "/jobs/stats", "localhost:8080", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "localhost is the console's own name too");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn the_console_binds_loopback_only_and_signs_for_https_only() {
    assert!(matches!(
        Guard::new("0.0.0.0:8080".parse().unwrap()),
        Err(ConsoleError::NotLoopback(_))
    ));
    assert!(Guard::new("[::1]:8080".parse().unwrap()).is_ok());
    assert!(matches!(
        Upstream::new("http://abc.execute-api.eu-west-1.amazonaws.com/", None, credentials()),
        Err(ConsoleError::NotHttps(_))
    ));
    assert!(Upstream::new("http://127.0.0.1:3000/", Some("eu-west-1".into()), credentials()).is_ok());
    assert!(Upstream::new("http://localhost:3000/", Some("eu-west-1".into()), credentials()).is_ok());
    let a = Guard::new("127.0.0.1:8080".parse().unwrap()).unwrap().url();
    let b = Guard::new("127.0.0.1:8080".parse().unwrap()).unwrap().url();
    assert_ne!(a, b, "a fresh secret each run");
    assert!(a.len() > "http://127.0.0.1:8080/?secret=".len() + 60, "{a}");
}
