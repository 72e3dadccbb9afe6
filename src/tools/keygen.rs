//! SSH key pairs for the tunnel (what `ssh-keygen` did in the original workflow): the gateway gets
//! the public key (`ssh.publicKey`), each bastion the base64 of the private key
//! (`tunnel.gateway.ssh.privateKey`). The private key file is created with mode 0600 and is never
//! overwritten unless asked.

use std::io::Write;
use std::path::{Path, PathBuf};

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use zeroize::Zeroizing;

/// The key algorithms `ikp keygen` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// Ed25519 (small, fast; the default).
    Ed25519,
    /// RSA (what the original README used, with 4096 bits).
    Rsa,
}

impl KeyType {
    /// The usual file name of a key of this type (`id_ed25519`, `id_rsa`).
    pub fn default_file_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "id_ed25519",
            KeyType::Rsa => "id_rsa",
        }
    }
}

/// Why a key pair could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// A file of the pair exists and `--force` was not given.
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// RSA keys shorter than 2048 bits are refused by current OpenSSH servers.
    #[error("RSA key size {bits} is too small: use at least 2048 bits")]
    RsaTooSmall {
        /// The requested size.
        bits: usize,
    },
    /// The key could not be generated or encoded.
    #[error("cannot generate the {algorithm} key: {source}")]
    Generate {
        /// Which algorithm.
        algorithm: &'static str,
        /// The library's error.
        #[source]
        source: ssh_key::Error,
    },
    /// A file of the pair is a symbolic link: writing through it would put the key wherever it points.
    #[error(
        "{path} is a symbolic link; refusing to write a key through it (remove it or choose another path)"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A generated key pair in OpenSSH formats.
pub struct KeyPair {
    /// The private key, OpenSSH PEM (`-----BEGIN OPENSSH PRIVATE KEY-----`); wiped on drop.
    pub private_openssh: Zeroizing<String>,
    /// The public key line (`ssh-ed25519 AAAA... comment`), with a final newline.
    pub public_openssh: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_openssh", &self.public_openssh)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair. `rsa_bits` is used for RSA only.
pub fn generate(kind: KeyType, rsa_bits: usize, comment: &str) -> Result<KeyPair, KeygenError> {
    let (algorithm_name, result) = match kind {
        KeyType::Ed25519 => (
            "ed25519",
            PrivateKey::random(&mut OsRng, Algorithm::Ed25519),
        ),
        KeyType::Rsa => {
            if rsa_bits < 2048 {
                return Err(KeygenError::RsaTooSmall { bits: rsa_bits });
            }
            let keypair = ssh_key::private::RsaKeypair::random(&mut OsRng, rsa_bits);
            (
                "rsa",
                keypair.and_then(|pair| PrivateKey::new(pair.into(), comment)),
            )
        }
    };
    let generate_error = |source| KeygenError::Generate {
        algorithm: algorithm_name,
        source,
    };
    let mut private = result.map_err(generate_error)?;
    private.set_comment(comment);
    let private_openssh = private.to_openssh(LineEnding::LF).map_err(generate_error)?;
    let mut public_openssh = private.public_key().to_openssh().map_err(generate_error)?;
    public_openssh.push('\n');
    Ok(KeyPair {
        private_openssh,
        public_openssh,
    })
}

/// Where a key pair was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The private key (mode 0600).
    pub private: PathBuf,
    /// The public key (`<private>.pub`).
    pub public: PathBuf,
}

/// The public key's path for a private key path: the same name plus `.pub`.
fn public_key_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes the pair to `private` and `private.pub`, creating parent directories. Refuses to replace
/// either file unless `force`, and refuses symbolic links (also dangling ones) in both cases: the files
/// are created exclusively, or with `force` written beside the target and renamed over it, so no link
/// is ever followed.
pub fn write_key_pair(
    pair: &KeyPair,
    private: &Path,
    force: bool,
) -> Result<KeyFiles, KeygenError> {
    let public = public_key_path(private);
    for path in [private, public.as_path()] {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(KeygenError::Symlink {
                    path: path.to_owned(),
                });
            }
            Ok(_) if !force => {
                return Err(KeygenError::Exists {
                    path: path.to_owned(),
                });
            }
            _ => {}
        }
    }
    if let Some(parent) = private.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| KeygenError::Write {
            path: parent.to_owned(),
            source,
        })?;
    }
    write_file(private, pair.private_openssh.as_bytes(), 0o600, force)?;
    write_file(&public, pair.public_openssh.as_bytes(), 0o644, force)?;
    Ok(KeyFiles {
        private: private.to_owned(),
        public,
    })
}

/// Creates `path` exclusively (`O_CREAT|O_EXCL` never follows a link), or with `replace` writes a fresh
/// file beside it and renames it over `path` (a rename replaces a link, not its target).
fn write_file(path: &Path, content: &[u8], mode: u32, replace: bool) -> Result<(), KeygenError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeygenError::Exists { path }
            } else {
                KeygenError::Write { path, source }
            }
        }
    };
    let target = if replace {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".ikp-tmp-{}", std::process::id()));
        PathBuf::from(name)
    } else {
        path.to_owned()
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let written = options.open(&target).and_then(|mut file| {
        // The creation mode is masked by the umask; the key files get exactly theirs.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(content)?;
        file.sync_all()
    });
    if let Err(source) = written {
        if replace {
            let _ = std::fs::remove_file(&target);
        }
        return Err(write_error(&target)(source));
    }
    if replace {
        std::fs::rename(&target, path).map_err(|source| {
            let _ = std::fs::remove_file(&target);
            write_error(path)(source)
        })?;
    }
    Ok(())
}

/// The `ikp render` flags that use a written pair: the gateway's public key and the bastion's
/// private key, the latter read by the shell so the key never shows on the terminal.
pub fn paste_flags(files: &KeyFiles) -> (String, String) {
    let quote = |path: &Path| shell_quote(&path.display().to_string());
    (
        format!("--set-file ssh.publicKey={}", quote(&files.public)),
        format!(
            "--set tunnel.gateway.ssh.privateKey=\"$(base64 -w0 {})\"",
            quote(&files.private)
        ),
    )
}

/// Single-quotes a path for a POSIX shell unless it is made of safe characters only.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./+:@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_pair_is_openssh_and_parses_back() {
        let pair = generate(KeyType::Ed25519, 0, "ikp-test").unwrap();
        assert!(
            pair.private_openssh
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        assert!(pair.public_openssh.starts_with("ssh-ed25519 "));
        assert!(pair.public_openssh.ends_with(" ikp-test\n"));
        let parsed = PrivateKey::from_openssh(pair.private_openssh.as_str()).unwrap();
        let public = parsed.public_key().to_openssh().unwrap();
        assert_eq!(format!("{public}\n"), pair.public_openssh);
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        assert!(matches!(
            generate(KeyType::Rsa, 1024, "x"),
            Err(KeygenError::RsaTooSmall { bits: 1024 })
        ));
    }

    #[test]
    fn files_are_written_private_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/id_ed25519");
        let pair = generate(KeyType::Ed25519, 0, "c").unwrap();
        let files = write_key_pair(&pair, &path, false).unwrap();
        assert_eq!(files.public, dir.path().join("keys/id_ed25519.pub"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.private)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_key_pair(&pair, &path, false).unwrap_err();
        assert!(matches!(err, KeygenError::Exists { .. }), "{err}");
        write_key_pair(&pair, &path, true).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn keygen_refuses_a_dangling_symlink_instead_of_writing_the_key_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere/stolen");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let link = dir.path().join("id_ed25519");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let pair = generate(KeyType::Ed25519, 0, "c").unwrap();
        for force in [false, true] {
            let err = write_key_pair(&pair, &link, force).unwrap_err();
            assert!(matches!(err, KeygenError::Symlink { .. }), "{err}");
            assert!(err.to_string().contains("symbolic link"), "{err}");
            assert!(
                !target.exists(),
                "key written through the link (force={force})"
            );
        }
        // A link at the public key's path is refused the same way, before the private key is written.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("id_ed25519.pub")).unwrap();
        let err = write_key_pair(&pair, &link, true).unwrap_err();
        assert!(matches!(err, KeygenError::Symlink { .. }), "{err}");
        assert!(!link.exists() && !target.exists());
    }

    #[cfg(unix)]
    #[test]
    fn forced_keygen_replaces_the_file_with_mode_0600_even_if_it_was_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id_ed25519");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pair = generate(KeyType::Ed25519, 0, "c").unwrap();
        write_key_pair(&pair, &path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            pair.private_openssh.as_str()
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }

    #[test]
    fn paste_flags_quote_paths_and_never_hold_the_key() {
        let files = KeyFiles {
            private: PathBuf::from("my keys/id"),
            public: PathBuf::from("my keys/id.pub"),
        };
        let (gateway, bastion) = paste_flags(&files);
        assert_eq!(gateway, "--set-file ssh.publicKey='my keys/id.pub'");
        assert_eq!(
            bastion,
            "--set tunnel.gateway.ssh.privateKey=\"$(base64 -w0 'my keys/id')\""
        );
    }
}
