//! `serve --audit-root` with an operator token: the actions on the clones (clone, commit,
//! discard, fix the remote, delete to the trash and back, push, pull), their settings on the
//! command line, where the trash goes, and its purge.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gitops_actions::{Actions, ActionsConfig, Identity, UrlPolicy};
use gitops_transport::{ActionLog, Live, Remediation};

use crate::cli;

/// How actions behave (with `serve --audit-root` and an operator token).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ActionArgs {
    /// Who commits made from the dashboard are by, as `Name <email>`. Without it, git's own
    /// user.name and user.email (of the user running the server) are used.
    #[arg(long, env = "GITOPS_COMMIT_AUTHOR", value_name = "NAME <EMAIL>", value_parser = parse_identity)]
    pub(crate) commit_author: Option<Identity>,
    /// Days a deleted folder stays in the trash (restorable from the dashboard) before it is
    /// removed for good.
    #[arg(long, env = "GITOPS_TRASH_DAYS", value_name = "DAYS", default_value_t = 30)]
    pub(crate) trash_days: u64,
    /// How long a clone, push or pull may take before git is stopped and the action reported
    /// as failed, e.g. 10m.
    #[arg(long, env = "GITOPS_ACTION_TIMEOUT", value_name = "DURATION", default_value = "10m", value_parser = cli::positive_duration)]
    pub(crate) action_timeout: Duration,
    /// A folder whose repositories may be cloned from by path or `file://` URL (local mirrors).
    /// Without it, only https and ssh URLs are used. Repeat for more.
    #[arg(
        long = "clone-from-dir",
        env = "GITOPS_CLONE_FROM_DIRS",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub(crate) clone_from_dirs: Vec<PathBuf>,
    /// Allow plain http:// clone URLs (off: nothing checks what comes over them).
    #[arg(long, env = "GITOPS_ALLOW_HTTP_CLONE")]
    pub(crate) allow_http_clone: bool,
}

/// `Name <email>`.
fn parse_identity(text: &str) -> Result<Identity, String> {
    let text = text.trim();
    let (name, rest) =
        text.split_once('<').ok_or_else(|| format!("{text:?} is not `Name <email>`"))?;
    let email = rest.strip_suffix('>').ok_or_else(|| format!("{text:?} is not `Name <email>`"))?;
    let (name, email) = (name.trim(), email.trim());
    if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
        return Err(format!("{text:?} is not `Name <email>`"));
    }
    Ok(Identity { name: name.to_owned(), email: email.to_owned() })
}

/// Where deleted folders go: `<state dir>/trash` when that is on the root's filesystem (a
/// delete is one rename), else a hidden `.gitops-live-trash` folder in the root.
fn trash_folder(root: &Path, state_dir: Option<&Path>) -> PathBuf {
    let in_root = root.join(".gitops-live-trash");
    let Some(state_dir) = state_dir else { return in_root };
    let candidate = state_dir.join("trash");
    if same_filesystem(root, state_dir) {
        candidate
    } else {
        tracing::info!(
            "the state directory {} is on another filesystem than {}: deleted folders go to {}",
            state_dir.display(),
            root.display(),
            in_root.display()
        );
        in_root
    }
}

#[cfg(unix)]
fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_filesystem(_: &Path, _: &Path) -> bool {
    false
}

/// Turns actions on for `live`: the actions on `root`, logged to `log`, re-audited by `auditor`.
/// Also starts the trash's purge (hourly). Does nothing but say why when no operator token is
/// configured.
pub(crate) fn enable(
    live: &Arc<Live>,
    args: &ActionArgs,
    root: &Path,
    state_dir: Option<&Path>,
    log: Arc<dyn ActionLog>,
    auditor: Arc<dyn gitops_transport::Auditor>,
) -> anyhow::Result<()> {
    if live.config().operator.token.is_none() {
        tracing::info!(
            "actions on the clones are off: give an operator token (--operator-token-file) to \
             clone, commit, discard and fix repositories from the dashboard"
        );
        return Ok(());
    }
    let trash = trash_folder(root, state_dir);
    let config = ActionsConfig {
        url_policy: UrlPolicy {
            file_roots: args.clone_from_dirs.clone(),
            allow_http: args.allow_http_clone,
        },
        network_timeout: args.action_timeout,
        author: args.commit_author.clone(),
        ..ActionsConfig::new(root, &trash)
    };
    let actions = Arc::new(Actions::new(config).with_context(|| {
        format!("setting up actions on {} (trash {})", root.display(), trash.display())
    })?);
    let purge_after = Duration::from_secs(args.trash_days.saturating_mul(86_400));
    tokio::spawn(purge_trash(actions.clone(), purge_after));
    tracing::info!(
        "actions on the clones are on for the operator; deleted folders go to {} for {} days",
        actions.trash_path().display(),
        args.trash_days
    );
    live.enable_actions(Remediation { actions, log, auditor, purge_after_days: args.trash_days });
    Ok(())
}

/// Removes trash entries older than `older_than`, at start and every hour.
async fn purge_trash(actions: Arc<Actions>, older_than: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let actions = actions.clone();
        let purged = tokio::task::spawn_blocking(move || {
            actions.purge_trash(older_than, jiff::Timestamp::now())
        })
        .await;
        match purged {
            Ok(Ok(entries)) if !entries.is_empty() => {
                let names: Vec<&str> = entries.iter().map(|e| e.entry.as_str()).collect();
                tracing::info!(entries = ?names, "purged old trash entries");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot purge the trash"),
            Err(error) => tracing::warn!(%error, "the trash purge failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_author_is_name_and_email() {
        let id = parse_identity(" Ops Bot <ops@example.org> ").expect("valid");
        assert_eq!((id.name.as_str(), id.email.as_str()), ("Ops Bot", "ops@example.org"));
        for bad in ["Ops Bot", "<ops@example.org>", "Ops <>", "Ops <a<b>", "Ops ops@x>"] {
            assert!(parse_identity(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_trash_is_in_the_state_dir_only_on_the_roots_filesystem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (root, state) = (dir.path().join("root"), dir.path().join("state"));
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&state).expect("state");
        assert_eq!(trash_folder(&root, Some(&state)), state.join("trash"));
        assert_eq!(trash_folder(&root, None), root.join(".gitops-live-trash"));
        // /proc is its own filesystem everywhere this runs.
        if Path::new("/proc/self").exists() {
            assert_eq!(
                trash_folder(&root, Some(Path::new("/proc"))),
                root.join(".gitops-live-trash")
            );
        }
    }
}
