//! `GET /`, `GET /console.css`, `GET /console.js`: the status page, compiled into the
//! binary (no CDN, no network). It calls the API it is served by with relative URLs.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../console/index.html");
const STYLE: &str = include_str!("../console/console.css");
const SCRIPT: &str = include_str!("../console/console.js");

/// The page may load only its own script and style, and talk only to its own origin.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The status page: totals, a 7-day chart, jobs (filter, paging, detail, cancel, re-run)
/// and schedules; it refreshes itself.
#[utoipa::path(
    get, path = "/", tag = "console", operation_id = "statusPage",
    responses((status = 200, description = "the status page (HTML)", content_type = "text/html", body = String))
)]
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// The status page's style sheet.
#[utoipa::path(
    get, path = "/console.css", tag = "console", operation_id = "statusPageStyle",
    responses((status = 200, description = "CSS", content_type = "text/css", body = String))
)]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The status page's script.
#[utoipa::path(
    get, path = "/console.js", tag = "console", operation_id = "statusPageScript",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String))
)]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Bytes of the page with its style and script: what a browser loads besides API calls.
pub fn weight() -> usize {
    PAGE.len() + STYLE.len() + SCRIPT.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_own_assets_only_and_labels_its_controls() {
        assert!(PAGE.contains(r#"href="console.css""#) && PAGE.contains(r#"src="console.js""#));
        assert!(
            !PAGE.contains("http://") && !PAGE.contains("https://"),
            "no external resources"
        );
        assert!(
            !SCRIPT.contains("http://")
                || SCRIPT
                    .matches("http://")
                    .all(|_| SCRIPT.contains("www.w3.org/2000/svg"))
        );
        for control in ["status-filter", "limit"] {
            assert!(
                PAGE.contains(&format!(r#"<label for="{control}""#)),
                "{control} has a label"
            );
        }
        // The ids the script reads all exist in the page.
        for id in SCRIPT.split("$('").skip(1).filter_map(|s| s.split('\'').next()) {
            assert!(PAGE.contains(&format!(r#"id="{id}""#)), "the page has no element #{id}");
        }
        assert!(weight() < 64 * 1024, "the page stays small: {} bytes", weight());
    }
}
