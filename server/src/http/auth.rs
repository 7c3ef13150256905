//! Credentials of HTTP writes: the same users as the PostgreSQL wire protocol.
//!
//! Accepted, on both APIs: `u` and `p` query parameters (InfluxDB 1.x),
//! `Authorization: Basic base64(user:password)`, `Authorization: Token user:password`
//! and `Authorization: Token password` (InfluxDB 2.x; the token is a user's password, and
//! names the first configured user with that password). Passwords are compared in
//! constant time.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use crate::config::User;

/// Why a request is not authenticated (both are HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unable to parse authentication credentials")]
    Missing,
    #[error("authorization failed")]
    Failed,
}

/// The authenticated user's name.
pub fn authenticate<'a>(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    users: &'a [User],
) -> Result<&'a str, AuthError> {
    let (user, password) = credentials(params, headers)?;
    let found = match user {
        Some(name) => users
            .iter()
            .find(|u| u.name == name && same(u.password.as_bytes(), password.as_bytes())),
        None => users
            .iter()
            .find(|u| same(u.password.as_bytes(), password.as_bytes())),
    };
    found.map(|u| u.name.as_str()).ok_or(AuthError::Failed)
}

/// (user if given, password) from the request.
fn credentials(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Option<String>, String), AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthError::Missing)?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(AuthError::Missing)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| AuthError::Missing)?;
            let text = String::from_utf8(decoded).map_err(|_| AuthError::Missing)?;
            let (u, p) = text.split_once(':').ok_or(AuthError::Missing)?;
            return Ok((Some(u.to_owned()), p.to_owned()));
        }
        if scheme.eq_ignore_ascii_case("token") {
            return Ok(match rest.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), p.to_owned()),
                None => (None, rest.to_owned()),
            });
        }
        return Err(AuthError::Missing);
    }
    match (params.get("u"), params.get("p")) {
        (Some(u), Some(p)) => Ok((Some(u.clone()), p.clone())),
        _ => Err(AuthError::Missing),
    }
}

/// Constant-time equality (for equal lengths; lengths are not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthMethod;

    fn users() -> Vec<User> {
        vec![
            User {
                name: "strata".into(),
                password: "s3cret".into(),
                auth: AuthMethod::Scram,
                superuser: true,
            },
            User {
                name: "telegraf".into(),
                password: "t0ken".into(),
                auth: AuthMethod::Md5,
                superuser: false,
            },
        ]
    }

    fn check(params: &[(&str, &str)], auth: Option<&str>) -> Result<String, AuthError> {
        let params: HashMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        let users = users();
        authenticate(&params, &headers, &users).map(str::to_owned)
    }

    #[test]
    fn every_credential_form() {
        assert_eq!(
            check(&[("u", "strata"), ("p", "s3cret")], None).unwrap(),
            "strata"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("telegraf:t0ken");
        assert_eq!(
            check(&[], Some(&format!("Basic {basic}"))).unwrap(),
            "telegraf"
        );
        assert_eq!(check(&[], Some("Token strata:s3cret")).unwrap(), "strata");
        assert_eq!(check(&[], Some("Token t0ken")).unwrap(), "telegraf");
    }

    #[test]
    fn missing_and_wrong_credentials() {
        assert_eq!(check(&[], None), Err(AuthError::Missing));
        assert_eq!(check(&[("u", "strata")], None), Err(AuthError::Missing));
        assert_eq!(check(&[], Some("Bearer x")), Err(AuthError::Missing));
        assert_eq!(
            check(&[("u", "strata"), ("p", "no")], None),
            Err(AuthError::Failed)
        );
        assert_eq!(
            check(&[], Some("Token telegraf:s3cret")),
            Err(AuthError::Failed)
        );
        assert_eq!(
            check(&[], Some("Token nobody:s3cret")),
            Err(AuthError::Failed)
        );
        assert_eq!(check(&[], Some("Token wrong")), Err(AuthError::Failed));
    }
}
