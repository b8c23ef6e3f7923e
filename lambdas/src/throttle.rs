//! Request rates per route on the local server, as API Gateway's stage applies them on AWS:
//! both read `settings/throttles.json` (a token bucket per route: `rateLimit` requests a
//! second, `burstLimit` at once; the stage's for a route the file does not list). A request
//! past them reaches no handler and answers what API Gateway answers, 429 with
//! `{"message":"Too Many Requests"}`, so a client written against the local API handles
//! the deployed one's throttling too; the log line names the route and its rate.
//!
//! On Lambda nothing here runs: API Gateway throttles before the function is invoked.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

/// The shared settings file, as the CDK app reads it.
pub const SETTINGS: &str = include_str!("../../settings/throttles.json");

/// A route's steady rate and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rate {
    pub rate_limit: u32,
    pub burst_limit: u32,
}

/// The stage's rate and each route's (`METHOD /path` in API Gateway's route key syntax).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Throttles {
    pub stage: Rate,
    pub routes: HashMap<String, Rate>,
}

impl Throttles {
    /// The committed settings.
    pub fn from_settings() -> Self {
        serde_json::from_str(SETTINGS).expect("settings/throttles.json is checked by its tests")
    }
}

/// One bucket per route key, and the stage's (key `""`) for the others.
struct Limiters {
    buckets: HashMap<String, (Rate, DefaultDirectRateLimiter)>,
}

impl Limiters {
    fn new(throttles: &Throttles) -> Self {
        let mut buckets: HashMap<String, (Rate, DefaultDirectRateLimiter)> = throttles
            .routes
            .iter()
            .map(|(key, rate)| (key.clone(), (*rate, limiter(*rate))))
            .collect();
        buckets.insert(String::new(), (throttles.stage, limiter(throttles.stage)));
        Self { buckets }
    }
}

fn limiter(rate: Rate) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(rate.rate_limit.max(1)).expect("at least 1");
    let burst = NonZeroU32::new(rate.burst_limit.max(1)).expect("at least 1");
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

/// `router` with each matched route limited as `throttles` say. Requests that match no
/// route (404s) share the stage's bucket.
pub fn limited(router: Router, throttles: &Throttles) -> Router {
    let limiters = Arc::new(Limiters::new(throttles));
    router.layer(middleware::from_fn_with_state(limiters, admit))
}

async fn admit(State(limiters): State<Arc<Limiters>>, request: Request, next: Next) -> Response {
    let key = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| format!("{} {}", request.method(), path.as_str()))
        .unwrap_or_default();
    let (key, (rate, bucket)) = match limiters.buckets.get_key_value(&key) {
        Some(found) => found,
        None => limiters
            .buckets
            .get_key_value("")
            .expect("the stage's bucket is always there"),
    };
    match bucket.check() {
        Ok(()) => next.run(request).await,
        Err(_) => {
            tracing::warn!(route = %key, rate = rate.rate_limit, burst = rate.burst_limit, "request throttled");
            (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({ "message": THROTTLED_MESSAGE })),
            )
                .into_response()
        }
    }
}

/// The body's message, as API Gateway words it.
pub const THROTTLED_MESSAGE: &str = "Too Many Requests";

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[test]
    fn every_route_of_the_api_has_a_rate_and_every_rate_a_route() {
        let throttles = Throttles::from_settings();
        let doc = serde_json::to_value(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| format!("{} {path}", method.to_uppercase()))
            })
            .collect();
        documented.sort();
        let mut listed: Vec<String> = throttles.routes.keys().cloned().collect();
        listed.sort();
        assert_eq!(listed, documented);
        for (key, rate) in &throttles.routes {
            assert!(
                rate.rate_limit >= 1 && rate.burst_limit >= rate.rate_limit,
                "{key}: {rate:?}"
            );
        }
    }

    async fn status(app: &Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn a_route_past_its_burst_answers_429_and_other_routes_keep_their_own_bucket() {
        let throttles = Throttles {
            stage: Rate {
                rate_limit: 1,
                burst_limit: 1,
            },
            routes: HashMap::from([(
                "GET /a/{id}".to_owned(),
                Rate {
                    rate_limit: 1,
                    burst_limit: 3,
                },
            )]),
        };
        let app = limited(
            Router::new()
                .route("/a/{id}", get(|| async { "a" }))
                .route("/b", get(|| async { "b" })),
            &throttles,
        );
        for id in 0..3 {
            assert_eq!(
                status(&app, &format!("/a/{id}")).await.0,
                StatusCode::OK,
                "within the burst"
            );
        }
        let (refused, body) = status(&app, "/a/9").await;
        assert_eq!(
            (refused, body),
            (
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({"message": "Too Many Requests"})
            )
        );
        assert_eq!(
            status(&app, "/b").await.0,
            StatusCode::OK,
            "the stage's bucket is another"
        );
        assert_eq!(status(&app, "/b").await.0, StatusCode::TOO_MANY_REQUESTS);
    }
}
