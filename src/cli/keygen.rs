//! `ikp keygen`: an SSH key pair for the tunnel, and the flags that use it.
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use ikp::tools::keygen::{self, KeyType};

use super::UsageError;

/// RSA key size when `-b` is not given.
const DEFAULT_RSA_BITS: usize = 4096;
use std::io::Write;

/// Flags of `ikp keygen`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # An ed25519 key pair: private/ssh/id_ed25519 (mode 0600) and private/ssh/id_ed25519.pub
  ikp keygen -f private/ssh/id_ed25519

  # An RSA key pair (3072 bits; 4096 without -b) with a comment, replacing existing files
  ikp keygen -t rsa -b 3072 -f private/ssh/id_rsa -C tunnel@example.org --force")]
pub(super) struct KeygenCmd {
    /// Key algorithm.
    #[arg(short = 't', long = "type", value_enum, default_value_t = KeyType::Ed25519)]
    key_type: KeyType,
    /// Private key file; the public key goes to the same path plus `.pub`
    /// (default: `id_ed25519` or `id_rsa` in the current directory).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,
    /// RSA key size in bits [default: 4096]; refused with ed25519, whose size is fixed.
    #[arg(short = 'b', long = "bits", value_name = "BITS")]
    bits: Option<usize>,
    /// Comment stored with the key.
    #[arg(short = 'C', long = "comment", default_value = "interlink-gateway-key")]
    comment: String,
    /// Replace existing key files.
    #[arg(long = "force")]
    force: bool,
    /// Print the bastion flag with the base64 private key itself instead of a `$(base64 ...)`
    /// expansion (the key then shows on the terminal).
    #[arg(long = "print-private-key")]
    print_private_key: bool,
}

/// Runs `ikp keygen`.
pub(super) fn run(cmd: KeygenCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let path = cmd
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from(cmd.key_type.default_file_name()));
    let bits = match (cmd.key_type, cmd.bits) {
        (KeyType::Ed25519, Some(bits)) => {
            return Err(UsageError(format!(
                "-b/--bits {bits}: ed25519 keys have a fixed size; -b sets the size of RSA keys (-t rsa)"
            ))
            .into());
        }
        (_, bits) => bits.unwrap_or(DEFAULT_RSA_BITS),
    };
    let pair = keygen::generate(cmd.key_type, bits, &cmd.comment)?;
    let files = keygen::write_key_pair(&pair, &path, cmd.force)?;
    let (gateway_flag, mut bastion_flag) = keygen::paste_flags(&files);
    if cmd.print_private_key {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(pair.private_openssh.as_bytes());
        bastion_flag = format!("--set tunnel.gateway.ssh.privateKey={encoded}");
    }
    let text = format!(
        "wrote {} (private, mode 0600) and {}\n\ngateway (local cluster):\n  ikp render RELEASE gateway {gateway_flag}\n\nbastion (remote cluster):\n  ikp render RELEASE bastion {bastion_flag} \\\n    --set tunnel.gateway.host=GATEWAY_HOST --set tunnel.service.gatewayPort=8181 \\\n    --set tunnel.service.targetHost=SERVICE_HOST --set tunnel.service.targetPort=80\n\n(tunnel.service.gatewayPort is the port the tunnel opens on the gateway; targetPort the service's port)\n",
        files.private.display(),
        files.public.display(),
    );
    out.write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
