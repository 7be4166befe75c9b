use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports services whose `user:` is root: `root`, `0`, or either with a group (`0:0`,
    /// `root:docker`).
    ///
    /// ## Why it matters
    /// A process that runs as root in the container is root on the host's kernel: a container
    /// escape, or a writable host mount, gives it the host. Many images drop to an unprivileged
    /// user on their own (the official postgres, redis and nginx images do, in their entrypoint or
    /// worker processes); `user: root` overrides what the image chose. OWASP's Docker Security Cheat
    /// Sheet, rule 2: "Set a user"
    /// (https://cheatsheetseries.owasp.org/cheatsheets/Docker_Security_Cheat_Sheet.html).
    ///
    /// ## When it does not apply
    /// Any other user, or no `user:` key (the image's own `USER` applies).
    ///
    /// ## Example
    /// ```yaml
    ///     user: root
    /// ```
    ///
    /// ## Fix
    /// Remove `user: root` when the image runs as its own user, or set the unprivileged user the
    /// image documents (`user: "1000:1000"`), and give that user the files it writes. Which user
    /// an image runs as, and what it writes, stackfix does not know yet, so this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct RootUser => "root-user" {
        summary: "container runs as root by explicit `user:`",
        severity: Warning,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["001", "003", "004"],
    }
}

/// Whether a `user:` value (`user[:group]`, by name or number) names root.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name == "root" || (!name.is_empty() && name.bytes().all(|b| b == b'0'))
}

impl Rule for RootUser {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(user) = service.value.get("user") else { continue };
            if !user.as_str().is_some_and(is_root) {
                continue;
            }
            out.push(
                Finding::new(
                    &Self::META,
                    user.loc,
                    format!("service `{}` runs as root (`user: {}`)", service.name, user.as_str().unwrap_or_default()),
                )
                .service(&service.name)
                .help("drop `user:` if the image runs as its own user, or set the unprivileged user it documents"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_users() {
        for user in ["root", "0", "0:0", "root:docker", "00"] {
            assert!(super::is_root(user), "{user}");
        }
        for user in ["1000", "1000:0", "app", "", "rootless", "10"] {
            assert!(!super::is_root(user), "{user}");
        }
    }
}
