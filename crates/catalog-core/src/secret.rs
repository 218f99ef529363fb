//! A wrapper that keeps secrets (tokens, passwords) out of `Debug` and `Display`.

use std::fmt;

/// A secret value. It never prints; read it with [`Secret::expose`] only where it is
/// sent (an `Authorization` header, a database handshake).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret:?} {secret} {:?}", Some(&secret)),
            "Secret(***) *** Some(Secret(***))"
        );
        assert_eq!(secret.expose(), "hunter2");
    }
}
