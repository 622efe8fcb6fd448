//! Credentials for fetching, and keeping them out of every message.

use std::path::{Path, PathBuf};

use driftless_core::Secret;

/// How to authenticate to the server. The default is anonymous.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// HTTP(S) user name (basic auth); with a token and no user name, `git` is sent, which
    /// GitHub, GitLab and Gitea all accept.
    pub username: Option<String>,
    /// HTTP(S) password or access token.
    pub password: Option<Secret>,
    /// SSH: the private key and the known hosts to check the server against.
    pub ssh: Option<SshAuth>,
}

/// SSH key authentication. The server's host key must be in `known_hosts`: an unknown or
/// changed host key is refused (`StrictHostKeyChecking=yes`), never added.
#[derive(Debug, Clone)]
pub struct SshAuth {
    /// The private key file (`-i`); only this key is offered.
    pub private_key: PathBuf,
    /// The `known_hosts` file; `None` uses ssh's defaults (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
}

impl Auth {
    /// The user name and password for HTTP, if any.
    pub(crate) fn http_account(&self) -> Option<(String, String)> {
        let password = self.password.as_ref()?.expose().clone();
        let username = self.username.clone().unwrap_or_else(|| "git".to_owned());
        Some((username, password))
    }

    /// The `core.sshCommand` that enforces key-only, non-interactive, host-checked SSH with
    /// timeouts, so a hung server ends the connection instead of hanging the fetch.
    ///
    /// ssh's stderr goes to `stderr_file`: gix reads only a few of ssh's messages from its
    /// stderr (and races them against the end of stdout), so a refusal would otherwise surface as
    /// "failed to fill whole buffer"; the fetch reads this file and quotes ssh's own words.
    pub(crate) fn ssh_command(&self, connect_timeout_secs: u64, stderr_file: &Path) -> String {
        let mut cmd = format!(
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout={connect_timeout_secs} \
             -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
        );
        if let Some(ssh) = &self.ssh {
            cmd.push_str(" -o IdentitiesOnly=yes -i ");
            cmd.push_str(&shell_quote(&ssh.private_key.to_string_lossy()));
            if let Some(known) = &ssh.known_hosts {
                cmd.push_str(" -o UserKnownHostsFile=");
                cmd.push_str(&shell_quote(&known.to_string_lossy()));
            }
        }
        // gix appends `"$@"` (port, host, the remote command) after this redirection.
        cmd.push_str(" 2>>");
        cmd.push_str(&shell_quote(&stderr_file.to_string_lossy()));
        cmd
    }
}

/// Quote for a POSIX shell: gix runs `core.sshCommand` through `sh -c`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `url` without the user-info part (`https://user:token@host/r` → `https://host/r`).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Every URL inside `text` with its user-info removed (errors from transports quote URLs).
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let word_start = rest[..pos].rfind(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '(');
        let start = word_start.map_or(0, |i| i + 1);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ')')
            .map_or(rest.len(), |i| pos + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_urls_and_messages() {
        assert_eq!(redact_url("https://u:tok@example.com/r.git"), "https://example.com/r.git");
        assert_eq!(redact_url("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(redact_url("/srv/repo"), "/srv/repo");
        assert_eq!(
            redact_text("failed to reach https://x:secret@h/r (401) and git://h/s"),
            "failed to reach https://h/r (401) and git://h/s"
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let auth = Auth { password: Some(Secret::new("s3cret".into())), ..Auth::default() };
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert_eq!(auth.http_account(), Some(("git".into(), "s3cret".into())));
    }

    #[test]
    fn the_ssh_command_checks_host_keys_and_quotes_paths() {
        let auth = Auth {
            ssh: Some(SshAuth { private_key: "/k/it's key".into(), known_hosts: Some("/k/known".into()) }),
            ..Auth::default()
        };
        let cmd = auth.ssh_command(10, Path::new("/c/r.ssh-stderr"));
        assert!(cmd.contains("StrictHostKeyChecking=yes") && cmd.contains("BatchMode=yes"), "{cmd}");
        assert!(cmd.contains(r"-i '/k/it'\''s key'"), "{cmd}");
        assert!(cmd.contains("UserKnownHostsFile='/k/known'"), "{cmd}");
        assert!(cmd.ends_with(" 2>>'/c/r.ssh-stderr'"), "{cmd}");
    }
}
