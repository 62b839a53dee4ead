//! Standard Webhooks signatures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac as _};
use sha2::Sha256;

/// The `webhook-signature` header value per [Standard Webhooks]:
/// `v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed by `secret`.
///
/// A secret of the form `whsec_<base64>` is keyed by the decoded bytes (as the Standard
/// Webhooks libraries do); any other secret, or one whose base64 does not decode, by its
/// UTF-8 bytes. `timestamp` is in seconds since the Unix epoch, the same value as the
/// `webhook-timestamp` header.
///
/// [Standard Webhooks]: https://www.standardwebhooks.com
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = key_bytes(secret);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn key_bytes(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}
