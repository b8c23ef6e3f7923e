//! Who is calling, and whether the route lets them: the caller of each request and the
//! permission check of `settings/permissions.json`, as one layer over every route.
//!
//! The caller comes from the request's authentication, never from its body:
//! - **On Lambda** from API Gateway's request context: under IAM the signer's ARN
//!   (`authorizer.iam.userArn`); under JWT the principal claim (`JOBS_PRINCIPAL_CLAIM`,
//!   default `sub`), prefixed `<tenant>/` when `JOBS_TENANT_CLAIM` names a claim. A
//!   request without that context is `401`; a header naming a principal is ignored.
//! - **On the local server** (no `AWS_LAMBDA_RUNTIME_API`): `JOBS_DEV_PRINCIPAL` (default
//!   `local`), or the header `JOBS_DEV_PRINCIPAL_HEADER` names, when it names one.
//!
//! Admins (who may cancel, re-run or change what others own): principals matching a
//! pattern of `JOBS_ADMINS` (comma-separated, `*` matches any run of characters), and
//! under JWT a token with the scope `JOBS_ADMIN_SCOPE` or a group of `JOBS_ADMIN_GROUPS`
//! in the claim `JOBS_GROUPS_CLAIM` (default `cognito:groups`).
//!
//! Permissions: each route needs the permission `settings/permissions.json` names. Under
//! JWT the token must carry that permission's scope (`JOBS_JWT_SCOPES` renames them) —
//! API Gateway checks the same scopes; this is the second check. Under IAM the caller's
//! policy decides (`docs/access.md`); locally every caller has every permission.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use job_core::Caller;
use job_core::config::ConfigError;
use lambda_http::request::RequestContext;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// The longest principal the API records (a role session ARN is at most about 2,100
/// characters; tokens' subjects are far shorter).
pub const MAX_PRINCIPAL_LEN: usize = 2048;

/// What a route needs, from `settings/permissions.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the status page and its assets.
    Public,
    /// A caller, no particular permission.
    Authenticated,
    /// A caller with this permission (`jobs:read`, ...).
    Permission(String),
}

#[derive(Deserialize)]
struct PermissionsFile {
    scopes: HashMap<String, String>,
    routes: HashMap<String, String>,
}

/// `settings/permissions.json`, parsed: the default scope of each permission and what each
/// route key (`METHOD /path`, in axum's path syntax) needs.
pub struct Permissions {
    pub scopes: HashMap<String, String>,
    pub routes: HashMap<String, Need>,
}

/// The permissions every build carries.
pub static PERMISSIONS: LazyLock<Permissions> = LazyLock::new(|| {
    let file: PermissionsFile = serde_json::from_str(include_str!("../../settings/permissions.json"))
        .expect("settings/permissions.json parses");
    let routes = file
        .routes
        .into_iter()
        .map(|(route, need)| {
            let need = match need.as_str() {
                "public" => Need::Public,
                "authenticated" => Need::Authenticated,
                permission => {
                    assert!(
                        file.scopes.contains_key(permission),
                        "{route} needs unknown permission {permission}"
                    );
                    Need::Permission(permission.to_owned())
                }
            };
            (route, need)
        })
        .collect();
    Permissions {
        scopes: file.scopes,
        routes,
    }
});

/// Which authorizer API Gateway runs (`JOBS_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Iam,
    Jwt,
}

/// How callers are told apart; see the module docs for the variables.
#[derive(Debug, Clone)]
pub struct CallerSettings {
    /// The authorizer requests must have passed on Lambda; `None` takes either.
    pub auth: Option<Auth>,
    /// The local server's callers; `None` on Lambda, where only the request context counts.
    pub local: Option<LocalCallers>,
    pub principal_claim: String,
    pub tenant_claim: Option<String>,
    pub groups_claim: String,
    /// The scope of each permission under JWT.
    pub scopes: HashMap<String, String>,
    pub admin_scope: Option<String>,
    pub admin_groups: Vec<String>,
    /// Principal patterns of admins.
    pub admins: Vec<String>,
}

/// The local server's caller: a fixed principal, or a header's when one is named.
#[derive(Debug, Clone)]
pub struct LocalCallers {
    pub principal: String,
    pub header: Option<HeaderName>,
}

/// The header `make run` names in `JOBS_DEV_PRINCIPAL_HEADER`.
pub const DEV_PRINCIPAL_HEADER: &str = "x-jobs-principal";

impl CallerSettings {
    /// The local server's defaults: every request is `local`, no header, no admins.
    pub fn local() -> Self {
        Self {
            auth: None,
            local: Some(LocalCallers {
                principal: "local".into(),
                header: None,
            }),
            principal_claim: "sub".into(),
            tenant_claim: None,
            groups_claim: "cognito:groups".into(),
            scopes: PERMISSIONS.scopes.clone(),
            admin_scope: None,
            admin_groups: Vec::new(),
            admins: Vec::new(),
        }
    }

    /// From the environment: on Lambda (`AWS_LAMBDA_RUNTIME_API` set) no local callers at all.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// From the variables `var` returns (tests pass a map).
    pub fn from_vars(var: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |var: &'static str, value: &str, reason: &str| ConfigError::Invalid {
            var,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let list = |name| -> Vec<String> {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let auth = match var("JOBS_AUTH").as_deref() {
            None => None,
            Some("iam") => Some(Auth::Iam),
            Some("jwt") => Some(Auth::Jwt),
            Some(other) => return Err(invalid("JOBS_AUTH", other, "expected iam or jwt")),
        };
        let local = if var("AWS_LAMBDA_RUNTIME_API").is_some() {
            None
        } else {
            let principal = var("JOBS_DEV_PRINCIPAL").unwrap_or_else(|| "local".into());
            if principal_problem(&principal).is_some() {
                return Err(invalid("JOBS_DEV_PRINCIPAL", &principal, "not a valid principal"));
            }
            let header = var("JOBS_DEV_PRINCIPAL_HEADER")
                .map(|h| {
                    HeaderName::try_from(h.as_str())
                        .map_err(|_| invalid("JOBS_DEV_PRINCIPAL_HEADER", &h, "not a header name"))
                })
                .transpose()?;
            Some(LocalCallers { principal, header })
        };
        let mut scopes = PERMISSIONS.scopes.clone();
        if let Some(json) = var("JOBS_JWT_SCOPES") {
            let renamed: HashMap<String, String> = serde_json::from_str(&json).map_err(|e| {
                invalid(
                    "JOBS_JWT_SCOPES",
                    &json,
                    &format!("expected a JSON object of scope names: {e}"),
                )
            })?;
            for (permission, scope) in renamed {
                if !scopes.contains_key(&permission) || scope.trim().is_empty() {
                    return Err(invalid(
                        "JOBS_JWT_SCOPES",
                        &json,
                        &format!("{permission:?} is not a permission or its scope is empty"),
                    ));
                }
                scopes.insert(permission, scope);
            }
        }
        Ok(Self {
            auth,
            local,
            principal_claim: var("JOBS_PRINCIPAL_CLAIM").unwrap_or_else(|| "sub".into()),
            tenant_claim: var("JOBS_TENANT_CLAIM"),
            groups_claim: var("JOBS_GROUPS_CLAIM").unwrap_or_else(|| "cognito:groups".into()),
            scopes,
            admin_scope: var("JOBS_ADMIN_SCOPE"),
            admin_groups: list("JOBS_ADMIN_GROUPS"),
            admins: list("JOBS_ADMINS"),
        })
    }

    /// The caller of a request and, under JWT, the scopes its token carries.
    fn identify(&self, request: &Request) -> Result<(Caller, Option<Vec<String>>), ApiError> {
        match request.extensions().get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                let authorizer = context.authorizer.as_ref();
                let iam = authorizer.and_then(|a| a.iam.as_ref());
                let jwt = authorizer.and_then(|a| a.jwt.as_ref());
                match (self.auth, iam, jwt) {
                    (None | Some(Auth::Iam), Some(iam), _) => {
                        let arn = iam
                            .user_arn
                            .as_deref()
                            .ok_or_else(|| unauthenticated("the IAM caller has no ARN"))?;
                        Ok((self.caller(arn.to_owned(), false)?, None))
                    }
                    (None | Some(Auth::Jwt), _, Some(jwt)) => {
                        let claim = |name: &str| jwt.claims.get(name).filter(|v| !v.is_empty());
                        let subject = claim(&self.principal_claim).ok_or_else(|| {
                            unauthenticated(format!(
                                "the token has no {:?} claim to name its caller",
                                self.principal_claim
                            ))
                        })?;
                        let principal = match &self.tenant_claim {
                            None => subject.clone(),
                            Some(tenant) => {
                                let tenant_value = claim(tenant).ok_or_else(|| {
                                    unauthenticated(format!("the token has no {tenant:?} claim (its tenant)"))
                                })?;
                                format!("{tenant_value}/{subject}")
                            }
                        };
                        let scopes = jwt.scopes.clone().unwrap_or_default();
                        let groups = claim(&self.groups_claim).map(|g| claim_list(g)).unwrap_or_default();
                        let admin = self.admin_scope.as_ref().is_some_and(|s| scopes.contains(s))
                            || groups.iter().any(|g| self.admin_groups.contains(g));
                        Ok((self.caller(principal, admin)?, Some(scopes)))
                    }
                    _ => Err(unauthenticated("the request carries no authorized caller")),
                }
            }
            Some(_) => Err(unauthenticated("the request carries no authorized caller")),
            None => {
                let local = self
                    .local
                    .as_ref()
                    .ok_or_else(|| unauthenticated("the request carries no authorized caller"))?;
                let from_header = local.header.as_ref().and_then(|h| request.headers().get(h));
                let principal = match from_header {
                    None => local.principal.clone(),
                    Some(value) => value
                        .to_str()
                        .ok()
                        .filter(|p| principal_problem(p).is_none())
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "invalid_principal",
                                format!(
                                    "{} must be 1 to {MAX_PRINCIPAL_LEN} printable characters",
                                    local.header.as_ref().unwrap()
                                ),
                            )
                        })?
                        .to_owned(),
                };
                Ok((self.caller(principal, false)?, None))
            }
        }
    }

    fn caller(&self, principal: String, admin_by_token: bool) -> Result<Caller, ApiError> {
        if let Some(problem) = principal_problem(&principal) {
            return Err(unauthenticated(format!("the caller's principal {problem}")));
        }
        let admin = admin_by_token || self.admins.iter().any(|pattern| matches_pattern(pattern, &principal));
        Ok(if admin {
            Caller::admin(principal)
        } else {
            Caller::new(principal)
        })
    }
}

fn principal_problem(principal: &str) -> Option<&'static str> {
    if principal.is_empty() {
        Some("is empty")
    } else if principal.len() > MAX_PRINCIPAL_LEN {
        Some("is too long")
    } else if principal.chars().any(char::is_control) {
        Some("has control characters")
    } else {
        None
    }
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// A list claim as API Gateway passes it: arrays flattened to `[a b c]`, or a plain
/// (space- or comma-separated) string.
fn claim_list(value: &str) -> Vec<String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    inner
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none too)
/// and everything else itself.
pub fn matches_pattern(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: the whole text
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The layer over every route: finds the caller, checks the route's permission, and hands
/// the caller to the handler (`Extension<Caller>`); `401` without a caller, `403` without
/// the permission, before the handler runs.
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let key = format!("{} {}", request.method(), matched.as_str());
    let settings: &Arc<CallerSettings> = &state.callers;
    let need = PERMISSIONS.routes.get(&key).cloned();
    let need = match need {
        Some(need) => need,
        // Fails closed: a route without a permission is a build error the router test catches.
        None => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{key} has no permission set"),
            )
            .into_response();
        }
    };
    if need == Need::Public {
        return next.run(request).await;
    }
    let (caller, scopes) = match settings.identify(&request) {
        Ok(found) => found,
        Err(err) => return err.into_response(),
    };
    if let (Need::Permission(permission), Some(scopes)) = (&need, &scopes) {
        let scope = settings.scopes.get(permission).unwrap_or(permission);
        if !scopes.contains(scope) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("{key} needs a token with the scope {scope:?}"),
            )
            .into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_principals_with_stars_for_any_run() {
        let role = "arn:aws:sts::*:assumed-role/JobsAdmin/*";
        assert!(matches_pattern(
            role,
            "arn:aws:sts::111122223333:assumed-role/JobsAdmin/alice"
        ));
        assert!(!matches_pattern(
            role,
            "arn:aws:sts::111122223333:assumed-role/JobsAdminX/alice"
        ));
        assert!(!matches_pattern(
            role,
            "arn:aws:sts::111122223333:assumed-role/Other/JobsAdmin/x"
        ));
        assert!(matches_pattern("ops", "ops") && !matches_pattern("ops", "ops2") && !matches_pattern("ops", "xops"));
        assert!(matches_pattern("*", "") && matches_pattern("a*", "a") && matches_pattern("*b", "ab"));
        assert!(!matches_pattern("a*a", "a"), "the parts may not overlap");
    }

    #[test]
    fn list_claims_read_as_api_gateway_flattens_them() {
        assert_eq!(claim_list("[ops dev]"), ["ops", "dev"]);
        assert_eq!(claim_list("ops"), ["ops"]);
        assert_eq!(claim_list("ops,dev"), ["ops", "dev"]);
    }

    #[test]
    fn settings_from_variables() {
        let vars = HashMap::from([
            ("JOBS_AUTH", "jwt"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("JOBS_DEV_PRINCIPAL_HEADER", DEV_PRINCIPAL_HEADER),
            ("JOBS_JWT_SCOPES", r#"{"jobs:read": "api/read"}"#),
            ("JOBS_ADMINS", "arn:aws:iam::*:role/ops, ops"),
        ]);
        let settings = CallerSettings::from_vars(|name| vars.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(settings.auth, Some(Auth::Jwt));
        assert!(
            settings.local.is_none(),
            "on Lambda no header or fixed principal is believed"
        );
        assert_eq!(settings.scopes["jobs:read"], "api/read");
        assert_eq!(settings.scopes["jobs:write"], "jobs:write");
        assert_eq!(settings.admins, ["arn:aws:iam::*:role/ops", "ops"]);

        let bad = HashMap::from([("JOBS_JWT_SCOPES", r#"{"jobs:delete": "x"}"#)]);
        let err = CallerSettings::from_vars(|name| bad.get(name).map(|v| v.to_string())).unwrap_err();
        assert!(err.to_string().contains("jobs:delete"), "{err}");
        let local = CallerSettings::from_vars(|name| {
            (name == "JOBS_DEV_PRINCIPAL_HEADER").then(|| DEV_PRINCIPAL_HEADER.into())
        })
        .unwrap();
        let local = local.local.unwrap();
        assert_eq!(
            (local.principal.as_str(), local.header.unwrap().as_str()),
            ("local", DEV_PRINCIPAL_HEADER)
        );
    }
}
