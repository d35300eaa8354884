//! Bearer-token checks, compared in constant time.

use subtle::ConstantTimeEq;

/// A set of accepted bearer tokens; `open` when none were configured.
#[derive(Clone, Default)]
pub(crate) struct Tokens {
    accepted: Option<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens themselves.
        f.debug_struct("Tokens")
            .field("count", &self.accepted.as_ref().map(Vec::len))
            .finish()
    }
}

impl Tokens {
    /// `None` = open (every request passes).
    pub(crate) fn new(tokens: Option<&[String]>) -> Self {
        Self {
            accepted: tokens.map(|list| list.iter().map(|t| t.as_bytes().to_vec()).collect()),
        }
    }

    /// Whether no token is required.
    pub(crate) fn is_open(&self) -> bool {
        self.accepted.is_none()
    }

    /// Whether the request may pass: open, or a presented token matches one accepted token.
    /// `authorization` is the raw header; `query_token` the `access_token` parameter (GET only).
    pub(crate) fn allows(&self, authorization: Option<&str>, query_token: Option<&str>) -> bool {
        let Some(accepted) = &self.accepted else {
            return true;
        };
        let presented = authorization
            .and_then(bearer)
            .or(query_token)
            .filter(|token| !token.is_empty());
        let Some(presented) = presented else {
            return false;
        };
        // Compare against every token without short-circuiting; only lengths may leak.
        accepted
            .iter()
            .fold(subtle::Choice::from(0), |found, token| {
                found | token.as_slice().ct_eq(presented.as_bytes())
            })
            .into()
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> Tokens {
        let list: Vec<String> = list.iter().map(|t| (*t).to_owned()).collect();
        Tokens::new(Some(&list))
    }

    #[test]
    fn open_allows_everything() {
        assert!(Tokens::new(None).allows(None, None));
    }

    #[test]
    fn header_and_query() {
        let tokens = tokens(&["alpha", "beta"]);
        assert!(tokens.allows(Some("Bearer beta"), None));
        assert!(tokens.allows(Some("bearer  alpha "), None));
        assert!(tokens.allows(None, Some("alpha")));
        assert!(!tokens.allows(Some("Bearer alph"), None));
        assert!(!tokens.allows(Some("Basic alpha"), None));
        assert!(!tokens.allows(Some("alpha"), None));
        assert!(!tokens.allows(None, Some("")));
        assert!(!tokens.allows(None, None));
    }

    #[test]
    fn debug_hides_tokens() {
        assert!(!format!("{:?}", tokens(&["secret"])).contains("secret"));
    }
}
