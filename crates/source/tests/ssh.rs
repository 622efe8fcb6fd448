//! SSH transport end to end: a real `sshd` on loopback (its own config, host key and
//! authorized keys), key authentication, and `known_hosts` checking. Skips, saying so, where
//! `/usr/sbin/sshd` is not installed (Debian: `openssh-server`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // fixture helpers

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_source::{Auth, Source, SourceError, SshAuth};
use support::init_repo;

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn start_sshd(dir: &Path, client_key: &Path) -> Sshd {
    let host_key = dir.join("host_ed25519");
    keygen(&host_key);
    let authorized = dir.join("authorized_keys");
    std::fs::write(&authorized, format!("{}\n", public_key(client_key))).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
            host_key.display(),
            authorized.display(),
            dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    // sshd wants its privilege separation directory; as root we can make it.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "sshd did not start on {addr}");
        std::thread::sleep(Duration::from_millis(25));
    }
    Sshd { child, port }
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn ssh_with_a_key_and_a_checked_host_key() {
    if !Path::new(SSHD).exists() {
        eprintln!("SKIPPED: {SSHD} is not installed (Debian package openssh-server)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (client_key, stranger_key) = (dir.join("client_ed25519"), dir.join("stranger_ed25519"));
    keygen(&client_key);
    keygen(&stranger_key);
    let sshd = start_sshd(dir, &client_key);
    let first = init_repo(&dir.join("srv/app"));

    let known_hosts = dir.join("known_hosts");
    let host = format!("[127.0.0.1]:{}", sshd.port);
    std::fs::write(&known_hosts, format!("{host} {}\n", public_key(&dir.join("host_ed25519")))).unwrap();
    let url = format!("ssh://{}@127.0.0.1:{}{}", user(), sshd.port, dir.join("srv/app").display());
    let src = Source::new(dir.join("cache")).with_timeout(Duration::from_secs(30));
    let auth = |key: &PathBuf, known: &PathBuf| Auth {
        ssh: Some(SshAuth { private_key: key.clone(), known_hosts: Some(known.clone()) }),
        ..Auth::default()
    };

    let repo = src.fetch(&url, &auth(&client_key, &known_hosts)).unwrap();
    assert_eq!(repo.resolve("HEAD").unwrap().commit.to_string(), first);

    // The errors quote ssh's own reason and name the repository.
    let refused = |err: SourceError, words: &str| {
        assert!(matches!(err, SourceError::Fetch { .. }), "{err}");
        let text = err.to_string();
        // The URL as shown: user-info is never part of an error.
        let shown = format!("ssh://127.0.0.1:{}{}", sshd.port, dir.join("srv/app").display());
        assert!(text.starts_with(&format!("fetch {shown}: ssh: ")), "{text}");
        assert!(text.contains(words), "expected {words:?} in: {text}");
        eprintln!("refused as expected: {text}");
    };

    // A key the server does not know.
    let err = src.fetch(&url, &auth(&stranger_key, &known_hosts)).unwrap_err();
    refused(err, "Permission denied (publickey)");

    // A server whose host key is not the one we know: refused, never added.
    let wrong_known = dir.join("wrong_known_hosts");
    std::fs::write(&wrong_known, format!("{host} {}\n", public_key(&stranger_key))).unwrap();
    let err = src.fetch(&url, &auth(&client_key, &wrong_known)).unwrap_err();
    refused(err, "Host key verification failed.");
    let empty_known = dir.join("empty_known_hosts");
    std::fs::write(&empty_known, "").unwrap();
    let err = src.fetch(&url, &auth(&client_key, &empty_known)).unwrap_err();
    refused(err, "Host key verification failed.");
    assert_eq!(std::fs::read_to_string(&empty_known).unwrap(), "", "an unknown host key is never added");

    // The server's own complaint (git-upload-pack on the far side) comes through too.
    let missing = format!("ssh://{}@127.0.0.1:{}{}", user(), sshd.port, dir.join("srv/nothing").display());
    let err = src.fetch(&missing, &auth(&client_key, &known_hosts)).unwrap_err();
    assert!(err.to_string().contains("does not appear to be a git repository"), "{err}");

    // The good key still works after all that, and no ssh log is left in the cache.
    let again = src.fetch(&url, &auth(&client_key, &known_hosts)).unwrap();
    assert_eq!(again.resolve("HEAD").unwrap().commit.to_string(), first);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("cache/repos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".ssh-stderr"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
