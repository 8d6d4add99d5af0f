//! A user's PIN, stored only as a salted SHA-256 digest.
//!
//! Why this and not a slow password hash (argon2, bcrypt): a PIN has 4 to 12
//! digits, at most 10^12 and usually 10^4 values, so no hash stops someone
//! who holds the catalogue from trying them all; what protects the PINs is
//! that the catalogue only travels inside the multi-session's encrypted,
//! authenticated network and sits on the terminals' disks. The hash keeps
//! PINs from being read in clear (or reused elsewhere) by whoever sees a
//! catalogue file, and the per-user salt makes equal PINs look different.
//! SHA-256 comes from `sha2`, already a dependency of the workspace; the
//! comparison is constant-time (`subtle`) so response time says nothing.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of salt per PIN; the caller draws them (this crate has no randomness).
pub const SALT_LEN: usize = 16;
/// Shortest and longest PIN, in digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=12;

const PREFIX: &str = "sha256";
/// Keeps these digests distinct from any other SHA-256 of the same bytes.
const DOMAIN: &[u8] = b"possync-pin\0";

/// A PIN that is not 4 to 12 ASCII digits, or a stored hash that does not
/// read as `sha256:<32 hex salt>:<64 hex digest>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is 4 to 12 digits")]
    BadPin,
    #[error("not a PIN hash (expected sha256:<salt hex>:<digest hex>)")]
    BadHash,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PinHash {
    salt: [u8; SALT_LEN],
    digest: [u8; 32],
}

impl PinHash {
    /// Hashes `pin` with `salt` (16 random bytes from the caller).
    pub fn new(pin: &str, salt: [u8; SALT_LEN]) -> Result<Self, PinError> {
        if !PIN_DIGITS.contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::BadPin);
        }
        Ok(PinHash { salt, digest: digest(&salt, pin) })
    }

    /// Whether `pin` is this PIN. Constant-time in the digest.
    pub fn verify(&self, pin: &str) -> bool {
        bool::from(digest(&self.salt, pin).ct_eq(&self.digest))
    }

    pub fn parse(s: &str) -> Result<Self, PinError> {
        let mut parts = s.split(':');
        let (Some(PREFIX), Some(salt), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PinError::BadHash);
        };
        Ok(PinHash { salt: unhex(salt)?, digest: unhex(d)? })
    }
}

fn digest(salt: &[u8; SALT_LEN], pin: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(salt);
    h.update(pin.as_bytes());
    h.finalize().into()
}

fn unhex<const N: usize>(s: &str) -> Result<[u8; N], PinError> {
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(PinError::BadHash);
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| PinError::BadHash)?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for PinHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}:{}:{}", hex(&self.salt), hex(&self.digest))
    }
}

impl fmt::Debug for PinHash {
    /// Never prints the digest, even hashed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinHash(..)")
    }
}

impl Serialize for PinHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PinHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PinHash::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_round_trips() {
        let h = PinHash::new("1234", [7; SALT_LEN]).unwrap();
        assert!(h.verify("1234"));
        assert!(!h.verify("1235"));
        assert!(!h.verify(""));
        let text = h.to_string();
        assert!(text.starts_with("sha256:07070707"));
        assert_eq!(PinHash::parse(&text).unwrap(), h);
        assert_ne!(PinHash::new("1234", [8; SALT_LEN]).unwrap(), h, "the salt changes the digest");
        assert_eq!(PinHash::new("12a4", [0; SALT_LEN]), Err(PinError::BadPin));
        assert_eq!(PinHash::new("123", [0; SALT_LEN]), Err(PinError::BadPin));
        assert_eq!(PinHash::parse("sha256:00:00"), Err(PinError::BadHash));
        assert_eq!(format!("{h:?}"), "PinHash(..)");
    }
}
