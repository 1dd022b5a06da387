//! Bearer tokens: stored as SHA-256 hashes, compared in constant time.
//!
//! Write tokens may do everything; read-only tokens may read when reads need a
//! token (`--require-read-token`) and get 403 on writes.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What a presented token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May read only.
    Read,
    /// May read and write.
    Write,
}

/// The accepted tokens, hashed.
#[derive(Clone, Default)]
pub struct Tokens {
    write: Vec<[u8; 32]>,
    read: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("write", &self.write.len())
            .field("read", &self.read.len())
            .finish()
    }
}

/// SHA-256 of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Splits a comma-separated list (environment variable), trimming blanks.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a token file: one token per line, blank lines and `#` comments ignored.
pub fn read_token_file(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

impl Tokens {
    /// Hashes the given tokens (the plain text is not kept).
    pub fn new(write: &[String], read: &[String]) -> Self {
        Tokens {
            write: write.iter().map(|t| hash(t)).collect(),
            read: read.iter().map(|t| hash(t)).collect(),
        }
    }

    /// Number of write and read-only tokens.
    pub fn counts(&self) -> (usize, usize) {
        (self.write.len(), self.read.len())
    }

    /// The role of a token, comparing its hash with every stored hash in
    /// constant time (no early exit, so timing says nothing about which matched).
    pub fn role_of(&self, token: &str) -> Option<(Role, [u8; 32])> {
        let h = hash(token);
        let mut write = subtle::Choice::from(0u8);
        for w in &self.write {
            write |= w.ct_eq(&h);
        }
        let mut read = subtle::Choice::from(0u8);
        for r in &self.read {
            read |= r.ct_eq(&h);
        }
        if bool::from(write) {
            Some((Role::Write, h))
        } else if bool::from(read) {
            Some((Role::Read, h))
        } else {
            None
        }
    }

    /// The caller's role from `Authorization: Bearer <token>`: 401 when absent,
    /// malformed or unknown.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(Role, [u8; 32]), ApiError> {
        let unauthorized =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m.to_string());
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("this request needs Authorization: Bearer <token>"))?;
        let value = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("expected Authorization: Bearer <token>"))?;
        self.role_of(token)
            .ok_or_else(|| unauthorized("the token is not valid"))
    }

    /// A write token, or 401 (none/unknown) / 403 (read-only).
    pub fn require_write(&self, headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
        match self.authenticate(headers)? {
            (Role::Write, h) => Ok(h),
            (Role::Read, _) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may only read",
            )),
        }
    }
}

/// A short, non-secret name for a token (first 8 hex digits of its hash),
/// recorded as `requested_by`.
pub fn token_name(h: &[u8; 32]) -> String {
    let hex: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("token:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(axum::http::header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn roles_and_errors() {
        let t = Tokens::new(&["w1".into(), "w2".into()], &["r1".into()]);
        assert!(t.require_write(&headers("Bearer w2")).is_ok());
        assert_eq!(
            t.require_write(&headers("Bearer r1")).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.require_write(&headers("Bearer nope")).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            t.require_write(&HeaderMap::new()).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            t.require_write(&headers("Basic w1")).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(t.authenticate(&headers("Bearer r1")).unwrap().0, Role::Read);
        assert!(!format!("{t:?}").contains("w1"));
        assert_eq!(split_list(" a, ,b,"), vec!["a", "b"]);
        assert!(token_name(&hash("w1")).starts_with("token:"));
    }
}
