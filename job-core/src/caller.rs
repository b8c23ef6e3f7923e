//! Who asked: the principal a request came from, and whether it may act on what another
//! principal owns.
//!
//! The API takes the caller from the request's authentication, never from its body
//! (`lambdas/src/caller.rs`): an IAM caller's ARN, a JWT's principal claim (with a tenant
//! claim in front when one is configured), or the local run's fixed principal. The use
//! cases record it (`submittedBy`, `cancelledBy`, `createdBy`, a change's `by`) and ask it
//! before a change to a job or schedule: only the owner or an admin may make one.

use std::fmt;

/// The principal recorded on what a scheduled run submits when its schedule has no
/// creator on record (made before creators were recorded, or outside the API).
pub const UNKNOWN_CREATOR: &str = "unknown";

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    principal: String,
    admin: bool,
}

impl Caller {
    /// A caller who may act on what it owns only.
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            admin: false,
        }
    }

    /// A caller who may act on what anyone owns.
    pub fn admin(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            admin: true,
        }
    }

    /// The principal as recorded: an IAM ARN, `<tenant>/<subject>` or `<subject>` of a
    /// token, or the local run's name.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Whether this caller may change what `owner` owns: its own (same principal) or,
    /// for an admin, anyone's. Without an owner on record (made before owners were
    /// recorded) only an admin may.
    pub fn may_change(&self, owner: Option<&str>) -> bool {
        self.admin || owner == Some(self.principal.as_str())
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.principal)
    }
}

/// A change refused because the caller neither owns the job or schedule nor is an admin.
/// The message names what was refused, not who owns it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} belongs to another caller: only its owner or an admin may {action} it")]
pub struct NotOwner {
    /// `job <id>` or `schedule "<name>"`.
    pub what: String,
    /// `cancel`, `re-run`, `change`, `delete`.
    pub action: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_admins_may_change_others_may_not() {
        let alice = Caller::new("alice");
        assert!(alice.may_change(Some("alice")));
        assert!(!alice.may_change(Some("bob")));
        assert!(!alice.may_change(None), "no owner on record: admins only");
        let admin = Caller::admin("ops");
        assert!(admin.may_change(Some("bob")) && admin.may_change(None));
        let refused = NotOwner {
            what: "job 1".into(),
            action: "cancel",
        };
        assert_eq!(
            refused.to_string(),
            "job 1 belongs to another caller: only its owner or an admin may cancel it"
        );
    }
}
