//! Checks that a text is a usable SSH key: an OpenSSH public key line (the gateway's
//! `ssh.publicKey`) or the base64 of an unencrypted private key (the bastion's
//! `tunnel.gateway.ssh.privateKey`). Only the structure is checked; nothing is printed from a
//! private key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The public key algorithms the gateway's sshd accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyAlgorithm {
    /// `ssh-rsa`.
    Rsa,
    /// `ssh-ed25519`.
    Ed25519,
    /// `ecdsa-sha2-nistp256/384/521`.
    Ecdsa,
}

/// Reads an SSH wire-format `string` (u32 length + bytes).
fn read_string<'b>(buf: &mut &'b [u8]) -> Option<&'b [u8]> {
    if buf.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < len {
        return None;
    }
    let (value, tail) = rest.split_at(len);
    *buf = tail;
    Some(value)
}

/// Parses the public key blob of `algorithm_name`; checks every field and that nothing trails.
fn check_public_blob(algorithm_name: &str, blob: &[u8]) -> Result<KeyAlgorithm, String> {
    let mut buf = blob;
    let inner = read_string(&mut buf).ok_or("the key data is truncated")?;
    if inner != algorithm_name.as_bytes() {
        return Err(format!(
            "the key data is for {:?}, not {algorithm_name}",
            String::from_utf8_lossy(inner)
        ));
    }
    let algorithm = match algorithm_name {
        "ssh-rsa" => {
            let exponent = read_string(&mut buf).ok_or("the RSA exponent is missing")?;
            let modulus = read_string(&mut buf).ok_or("the RSA modulus is missing")?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            if exponent.is_empty() || bits < 1024 {
                return Err(format!(
                    "the RSA key is too small ({bits} bits; at least 2048 expected)"
                ));
            }
            KeyAlgorithm::Rsa
        }
        "ssh-ed25519" => {
            let point = read_string(&mut buf).ok_or("the ed25519 key is missing")?;
            if point.len() != 32 {
                return Err("the ed25519 key is not 32 bytes".into());
            }
            KeyAlgorithm::Ed25519
        }
        ecdsa => {
            let (curve, point_len) = match ecdsa {
                "ecdsa-sha2-nistp256" => ("nistp256", 65),
                "ecdsa-sha2-nistp384" => ("nistp384", 97),
                "ecdsa-sha2-nistp521" => ("nistp521", 133),
                _ => return Err(format!("unsupported key type {ecdsa:?}")),
            };
            let named = read_string(&mut buf).ok_or("the ECDSA curve is missing")?;
            let point = read_string(&mut buf).ok_or("the ECDSA point is missing")?;
            if named != curve.as_bytes() || point.len() != point_len || point[0] != 4 {
                return Err("the ECDSA key data is malformed".into());
            }
            KeyAlgorithm::Ecdsa
        }
    };
    if !buf.is_empty() {
        return Err("the key data has trailing bytes".into());
    }
    Ok(algorithm)
}

/// Checks one OpenSSH public key line: `<type> <base64> [comment]` (a final line break is
/// allowed, as `--set-file` of a `.pub` file keeps it).
pub(super) fn check_public_key_line(text: &str) -> Result<KeyAlgorithm, String> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\n') {
        return Err("must be a single public key line (one key, as in id_rsa.pub)".into());
    }
    let mut fields = line.splitn(3, ' ');
    let algorithm = fields.next().unwrap_or_default();
    let data = fields.next().unwrap_or_default();
    if !matches!(
        algorithm,
        "ssh-rsa"
            | "ssh-ed25519"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
    ) {
        if algorithm.starts_with("-----BEGIN") || text.contains("PRIVATE KEY") {
            return Err("must be the PUBLIC key line (id_rsa.pub), not a private key".into());
        }
        return Err(
            "must be an OpenSSH public key line: ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521, then the base64 key data and an optional comment"
                .into(),
        );
    }
    let blob = STANDARD
        .decode(data)
        .map_err(|_| "the key data after the key type is not valid base64".to_owned())?;
    check_public_blob(algorithm, &blob).map_err(|e| format!("is not a valid public key: {e}"))
}

/// What kind of private key a PEM block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PrivateKeyFormat {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` (ssh-keygen's default).
    OpenSsh,
    /// A PEM `RSA PRIVATE KEY`, `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`.
    Pem,
}

/// Checks the bastion's private key value: the base64 (one line) of an unencrypted OpenSSH or
/// PEM private key. Errors never include any part of the key.
pub(super) fn check_private_key_base64(text: &str) -> Result<PrivateKeyFormat, String> {
    if text.contains("-----BEGIN") {
        return Err(
            "is a raw PEM private key; base64-encode the key file instead (base64 -w0 id_rsa)"
                .into(),
        );
    }
    if text.contains(['\n', '\r', ' ', '\t']) {
        return Err(
            "must be one line of base64 without spaces or line breaks (base64 -w0 id_rsa)".into(),
        );
    }
    let decoded = STANDARD.decode(text).map_err(|_| {
        "is not valid base64 (expected base64 -w0 of the private key file)".to_owned()
    })?;
    let pem = String::from_utf8(decoded)
        .map_err(|_| "does not decode to a PEM private key file".to_owned())?;
    check_private_key_pem(&pem)
}

/// Checks a PEM private key file's text (already base64-decoded from the value).
fn check_private_key_pem(pem: &str) -> Result<PrivateKeyFormat, String> {
    let not_pem =
        || "does not decode to a PEM private key file (-----BEGIN ... PRIVATE KEY-----)".to_owned();
    let mut lines = pem.lines().map(str::trim_end).skip_while(|l| l.is_empty());
    let begin = lines.next().ok_or_else(not_pem)?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(not_pem)?
        .to_owned();
    let end_line = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == end_line {
            ended = true;
            break;
        }
        if line.contains(':') {
            // RFC 1421 headers appear only on legacy encrypted keys.
            if line.starts_with("Proc-Type") && line.contains("ENCRYPTED") {
                return Err(encrypted());
            }
            continue;
        }
        body.push_str(line);
    }
    if !ended {
        return Err("the decoded private key has no -----END line (the file is cut short)".into());
    }
    let der = STANDARD
        .decode(&body)
        .map_err(|_| "the decoded private key's body is not valid base64".to_owned())?;
    match label.as_str() {
        "OPENSSH PRIVATE KEY" => check_openssh_private(&der).map(|_| PrivateKeyFormat::OpenSsh),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY" | "DSA PRIVATE KEY" => {
            if der.first() != Some(&0x30) {
                return Err("the decoded PEM private key is not DER-encoded".into());
            }
            Ok(PrivateKeyFormat::Pem)
        }
        "ENCRYPTED PRIVATE KEY" => Err(encrypted()),
        _ => Err(format!(
            "decodes to a PEM block of type {label:?}, not a private key"
        )),
    }
}

fn encrypted() -> String {
    "is a passphrase-protected private key; the bastion loads it with ssh-add, which cannot ask for a passphrase (use an unencrypted key)".into()
}

/// `openssh-key-v1` container: magic, cipher, kdf, kdf options, key count, public keys, the
/// private section.
fn check_openssh_private(data: &[u8]) -> Result<(), String> {
    let mut buf = data
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or("the decoded OpenSSH private key has a bad header")?;
    let malformed = || "the decoded OpenSSH private key is malformed".to_owned();
    let cipher = read_string(&mut buf).ok_or_else(malformed)?;
    let _kdf = read_string(&mut buf).ok_or_else(malformed)?;
    let _kdf_options = read_string(&mut buf).ok_or_else(malformed)?;
    if buf.len() < 4 {
        return Err(malformed());
    }
    let count = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    buf = &buf[4..];
    if count != 1 {
        return Err(malformed());
    }
    let public = read_string(&mut buf).ok_or_else(malformed)?;
    let mut public_reader = public;
    let algorithm = read_string(&mut public_reader).ok_or_else(malformed)?;
    let algorithm = String::from_utf8_lossy(algorithm).into_owned();
    check_public_blob(&algorithm, public).map_err(|_| malformed())?;
    let _private = read_string(&mut buf).ok_or_else(malformed)?;
    if cipher != b"none" {
        return Err(encrypted());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKb+Ny6AabMc+bhMQqBVWV/v8ufuGZTK6pVkEbKAhDTW helm-ref-test-ed25519";
    const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCuCwAXLZ5ZBxRm91aVUAgb3ouQZNYeRL0UCpupk7SVuSEJI6dJ00N/FIOwcV6lWFuX6peDCbRvyOa2zp+8sXbBilTHmoxYJN/3iw4o7bBTfB/4VkdxAlHqtcmcc0UdWVvMpXd91ucXuXBvS/6AT+2R1K3QJAG75nWy0YNfjUC/GDRytFBH9sKX/sjpscpGIA20T8oPjj202B5NcVHLSZK8QThDPqhDSqkf9RoTUK/DohdwaT+H5JP7MbrokzMzoPcfxAQVnnM9poNQLIVMJOzd2KSU34NqYIek4L8zYaYZOyrJoPx1LIJAkNesIfxut/+mrTT/dyiWELLcMmFtyD0N helm-ref-test-rsa";
    // A throwaway ed25519 key from the Helm reference cases (it protects nothing).
    const ED25519_PRIVATE_PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACCm/jcugGmzHPm4TEKgVVlf7/Ln7hmUyuqVZBGygIQ01gAAAJjNOQ25zTkN\nuQAAAAtzc2gtZWQyNTUxOQAAACCm/jcugGmzHPm4TEKgVVlf7/Ln7hmUyuqVZBGygIQ01g\nAAAEDDsU2buy41dmPjjCS19BFwdiNwbpNM5DUIE+1sJWwJyKb+Ny6AabMc+bhMQqBVWV/v\n8ufuGZTK6pVkEbKAhDTWAAAAFWhlbG0tcmVmLXRlc3QtZWQyNTUxOQ==\n-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn public_keys() {
        assert_eq!(
            check_public_key_line(ED25519_PUB),
            Ok(KeyAlgorithm::Ed25519)
        );
        assert_eq!(check_public_key_line(RSA_PUB), Ok(KeyAlgorithm::Rsa));
        assert_eq!(
            check_public_key_line(&format!("{ED25519_PUB}\n")),
            Ok(KeyAlgorithm::Ed25519)
        );
        assert!(check_public_key_line("a,b").is_err());
        assert!(check_public_key_line("null").is_err());
        assert!(check_public_key_line("<no value>").is_err());
        assert!(check_public_key_line("ssh-ed25519 AAAA #comment").is_err());
        assert!(
            check_public_key_line(
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKb+Ny6AabMc+bhMQqBVWV/v8ufuGZTK6pVkEbKAhDTW x"
            )
            .is_err()
        );
        assert!(check_public_key_line(&format!("{ED25519_PUB}\n{ED25519_PUB}")).is_err());
    }

    // Throwaway keys made for these tests with ssh-keygen; they protect nothing.
    const ECDSA_PUB: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJrmuadpfvxEjfKO2Jm4Ax9OdJJUA1kzIHJr4lL9GiCZenCRXDvwZ47fFpVEHZK3CyivxyBJPuA9Lcfe2t0mQBQ= ecdsa-test";
    const EC_PEM: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIG8b6D/FjNHLHT+VWWWlrzpXdTLj1zoU7ieL6qU7GUW1oAoGCCqGSM49\nAwEHoUQDQgAE/C1RQLc7osD0EKlnUBJh7hU9fgYgjqxctJH3TamCk0Vp05D47A3B\n2Dfsa+TNZdt5I22KhrfZk7I0cK1vXEO5Xw==\n-----END EC PRIVATE KEY-----\n";
    const ENCRYPTED_ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABDZrC7phN\noi3vG/9HsPzT46AAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIF8yCgjzcKfsw014\nSyGM6ohjKFgpV5EtmAo4X58U7xdJAAAAkMtCkt83jrFdAKsJXFEqExu5+IwP9haAnd788z\nuQF9ZQiAq8ek+udXxRW0rwaLRKrukvwzgUpanSgnFBF8U6WknGvlwkfWpFezinLrwM/f9t\nEtbrsyFPl6PlU6yrbKqphYYZgV9hw9sseodO031FX4xN6HkvorCuhwL+yKNSvZjGnRQH8F\npu/T0p3ixfhAFlAA==\n-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn other_key_formats() {
        assert_eq!(check_public_key_line(ECDSA_PUB), Ok(KeyAlgorithm::Ecdsa));
        assert_eq!(
            check_private_key_base64(&STANDARD.encode(EC_PEM)),
            Ok(PrivateKeyFormat::Pem)
        );
        let encrypted = check_private_key_base64(&STANDARD.encode(ENCRYPTED_ED25519));
        assert!(encrypted.is_err_and(|e| e.contains("passphrase")));
    }

    #[test]
    fn private_keys() {
        let b64 = STANDARD.encode(ED25519_PRIVATE_PEM);
        assert_eq!(
            check_private_key_base64(&b64),
            Ok(PrivateKeyFormat::OpenSsh)
        );
        let raw = check_private_key_base64(ED25519_PRIVATE_PEM).expect_err("raw PEM");
        assert!(raw.contains("base64-encode"), "{raw}");
        assert!(!raw.contains("b3BlbnNzaC1rZXkt"), "must not echo the key");
        assert!(check_private_key_base64("not base64!").is_err());
        assert!(check_private_key_base64(&STANDARD.encode("hello")).is_err());
        let cut = &ED25519_PRIVATE_PEM[..ED25519_PRIVATE_PEM.len() - 40];
        assert!(check_private_key_base64(&STANDARD.encode(cut)).is_err());
        let wrapped = format!("{}\n{}", &b64[..76], &b64[76..]);
        assert!(check_private_key_base64(&wrapped).is_err_and(|e| e.contains("-w0")));
    }
}
