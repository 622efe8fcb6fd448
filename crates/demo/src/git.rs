//! A Git repository for the demo, with commits signed by a key made on the spot (SSH, as
//! `git -c gpg.format=ssh commit -S` would sign them). Uses the `git` program for everything
//! but the signature, so the repository is an ordinary one any Git can read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ssh_key::private::Ed25519Keypair;
use ssh_key::{HashAlg, LineEnding, PrivateKey};

use crate::DemoError;

/// The identity the demo commits and signs as.
pub(crate) const SIGNER: &str = "demo@driftless.dev";

/// An SSH signing key.
pub(crate) struct Signer {
    key: PrivateKey,
}

impl Signer {
    /// A fresh Ed25519 key.
    pub(crate) fn generate() -> Result<Self, DemoError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DemoError::Key(e.to_string()))?;
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        Ok(Self { key })
    }

    /// The `allowed_signers` line trusting this key for Git.
    pub(crate) fn allowed_signers(&self) -> Result<String, DemoError> {
        let public = self.key.public_key().to_openssh().map_err(|e| DemoError::Key(e.to_string()))?;
        Ok(format!("{SIGNER} namespaces=\"git\" {public}\n"))
    }

    /// The key's fingerprint, `SHA256:...`.
    pub(crate) fn fingerprint(&self) -> String {
        self.key.public_key().fingerprint(HashAlg::Sha256).to_string()
    }

    fn sign(&self, payload: &[u8]) -> Result<String, DemoError> {
        let signature =
            self.key.sign("git", HashAlg::Sha512, payload).map_err(|e| DemoError::Key(e.to_string()))?;
        signature.to_pem(LineEnding::LF).map_err(|e| DemoError::Key(e.to_string()))
    }
}

/// A work tree with a `main` branch.
pub(crate) struct Repo {
    dir: PathBuf,
    home: PathBuf,
}

impl Repo {
    /// `git init` in `dir`, isolated from the user's and the system's Git configuration.
    pub(crate) fn init(dir: &Path, home: &Path) -> Result<Self, DemoError> {
        std::fs::create_dir_all(dir).map_err(|e| DemoError::io(dir, e))?;
        let repo = Self { dir: dir.to_owned(), home: home.to_owned() };
        repo.git(&["init", "-q", "-b", "main"], None)?;
        Ok(repo)
    }

    /// The work tree.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write `content` at `path` (relative to the work tree).
    pub(crate) fn write(&self, path: &str, content: &str) -> Result<(), DemoError> {
        let file = self.dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DemoError::io(parent, e))?;
        }
        std::fs::write(&file, content).map_err(|e| DemoError::io(&file, e))
    }

    /// Read the file at `path`.
    pub(crate) fn read(&self, path: &str) -> Result<String, DemoError> {
        let file = self.dir.join(path);
        std::fs::read_to_string(&file).map_err(|e| DemoError::io(&file, e))
    }

    /// Commit everything, signed by `signer`; returns the commit id.
    pub(crate) fn commit_signed(&self, message: &str, signer: &Signer) -> Result<String, DemoError> {
        self.git(&["add", "-A"], None)?;
        let tree = self.git(&["write-tree"], None)?;
        let parent = self.git(&["rev-parse", "-q", "--verify", "HEAD"], None).ok();
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut headers = format!("tree {tree}\n");
        if let Some(parent) = &parent {
            headers.push_str(&format!("parent {parent}\n"));
        }
        headers.push_str(&format!(
            "author Demo <{SIGNER}> {now} +0000\ncommitter Demo <{SIGNER}> {now} +0000\n"
        ));
        let body = format!("\n{message}\n");
        let payload = format!("{headers}{body}");
        let signature = signer.sign(payload.as_bytes())?;
        // Git stores the signature as a header whose continuation lines start with a space.
        let gpgsig = format!("gpgsig {}\n", signature.trim_end().replace('\n', "\n "));
        let signed = format!("{headers}{gpgsig}{body}");
        let id = self.git(&["hash-object", "-t", "commit", "-w", "--stdin"], Some(signed.as_bytes()))?;
        self.git(&["update-ref", "refs/heads/main", &id], None)?;
        self.git(&["reset", "-q"], None)?;
        Ok(id)
    }

    /// Commit everything without a signature; returns the commit id.
    pub(crate) fn commit_unsigned(&self, message: &str) -> Result<String, DemoError> {
        self.git(&["add", "-A"], None)?;
        self.git(&["-c", "commit.gpgsign=false", "commit", "-q", "-m", message], None)?;
        self.git(&["rev-parse", "HEAD"], None)
    }

    /// Drop the last commit (it was never synced).
    pub(crate) fn drop_last_commit(&self) -> Result<(), DemoError> {
        self.git(&["reset", "-q", "--hard", "HEAD~1"], None).map(|_| ())
    }

    fn git(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, DemoError> {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Demo")
            .env("GIT_AUTHOR_EMAIL", SIGNER)
            .env("GIT_COMMITTER_NAME", "Demo")
            .env("GIT_COMMITTER_EMAIL", SIGNER)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("git {}", args.join(" "));
        let mut child =
            command.spawn().map_err(|e| DemoError::Git { command: what.clone(), message: e.to_string() })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            pipe.write_all(input)
                .map_err(|e| DemoError::Git { command: what.clone(), message: e.to_string() })?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| DemoError::Git { command: what.clone(), message: e.to_string() })?;
        if !output.status.success() {
            return Err(DemoError::Git {
                command: what,
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}
