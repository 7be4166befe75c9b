use serde_json::json;

use super::{Applicability, Context, EditOp, Finding, FixEdit, Rule, RuleMeta, Target};
use crate::fix::render::template as tpl;
use crate::stack::Service;

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
    /// For an image built here whose Dockerfile names a user that is not root (the last `USER` of
    /// the stage the service builds: `target`, else the last, or the stage it starts from), the
    /// fix sets `user:` to it, as written there:
    /// ```yaml
    ///     user: "app"
    /// ```
    /// That is the user the image was made to run as (a `dockerfile_inline` is read as the
    /// Dockerfile; here-document bodies are not instructions). Not offered when the service
    /// replaces the entrypoint, adds capabilities or mounts a socket (root on purpose), nor
    /// elsewhere (a pulled image, a Dockerfile without `USER` or whose `USER` is a build argument):
    /// there, remove `user: root` when the image
    /// runs as its own user, or set the unprivileged user the image documents, and give that user
    /// the files it writes: stackfix does not know which user that is.
    ///
    /// ## Fix safety
    /// Unsafe: `user: root` was written on purpose, often for files a volume holds that belong to
    /// root, a port below 1024, or a tool that needs root; the image's user may not be allowed
    /// those.
    pub struct RootUser => "root-user" {
        summary: "container runs as root by explicit `user:`",
        severity: Warning,
        area: Security,
        scope: Any,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["001", "003", "004"],
    }
}

/// The user that the image `service` builds runs as, when its Dockerfile names one literally and it
/// is not root, and nothing in the service says it runs as root on purpose: its own entrypoint
/// (a script that changes owners, then steps down), added capabilities, or the Docker socket.
fn image_user(service: &Service) -> Option<&str> {
    service.build.as_ref()?;
    let on_purpose = service.value.get("entrypoint").is_some()
        || service.value.get("cap_add").is_some()
        || service.volumes.iter().any(|m| m.source.as_deref().is_some_and(|s| s.ends_with(".sock")));
    if on_purpose {
        return None;
    }
    service.build_user.as_deref().filter(|u| !u.contains('$') && !u.is_empty() && !is_root(u))
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
            let finding = Finding::new(
                &Self::META,
                user.loc,
                format!("service `{}` runs as root (`user: {}`)", service.name, user.as_str().unwrap_or_default()),
            )
            .service(&service.name);
            out.push(match image_user(service) {
                Some(own) => finding
                    .help(format!("the image built here runs as `{own}` (its Dockerfile's `USER`)"))
                    .with_fix(ctx.fix(
                        format!("run as `{own}`, the user its Dockerfile names"),
                        Applicability::Unsafe,
                        vec![FixEdit::new(
                            Target::Node { file: user.loc.file, at: user.loc.span },
                            EditOp::Replace,
                            tpl::ROOT_USER,
                            json!({ "user": own }),
                        )],
                    )),
                None => finding.help(match (&service.build, service.build_user.as_deref()) {
                    (Some(_), Some(user)) if user.contains('$') => format!(
                        "its Dockerfile's `USER {user}` comes from a build argument; set that user here, or drop `user:`"
                    ),
                    _ => "drop `user:` if the image runs as its own user, or set the unprivileged user it documents"
                        .to_string(),
                }),
            });
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
