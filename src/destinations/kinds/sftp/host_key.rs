//! SFTP host keys as the options give them: an OpenSSH public key line or its fingerprint,
//! normalised to the `SHA256:` fingerprint the SFTP client compares.

use russh::keys::HashAlg;

/// The `SHA256:` fingerprint of a host key given as an OpenSSH public key line, or the
/// fingerprint itself.
///
/// # Errors
/// A message saying what a host key looks like.
pub fn host_key_fingerprint(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if let Some(b64) = raw.strip_prefix("SHA256:") {
        let ok = b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        return if ok {
            Ok(raw.to_owned())
        } else {
            Err("a SHA256: fingerprint has 43 base64 characters after the colon".into())
        };
    }
    russh::keys::PublicKey::from_openssh(raw)
        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
        .map_err(|_| {
            "give the server's public host key (a line like `ssh-ed25519 AAAA…`, from \
             ssh-keyscan) or its SHA256: fingerprint"
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7NtVEu+1Fr9yJMCB1jqFRYHP3+a91jCTcOhxKm9s6+ test";

    #[test]
    fn host_keys_are_taken_as_lines_or_fingerprints() {
        // As `ssh-keygen -lf` prints it.
        let fp = host_key_fingerprint(HOST_KEY).unwrap();
        assert_eq!(fp, "SHA256:MfndkZGI39VvdzBkMsUGnbSys27p6LWm2LNET71VvW8");
        assert_eq!(host_key_fingerprint(&fp).unwrap(), fp);
        assert!(host_key_fingerprint("SHA256:short").is_err());
        assert!(host_key_fingerprint("ssh-ed25519 notbase64").is_err());
    }
}
