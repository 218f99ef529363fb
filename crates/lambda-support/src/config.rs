//! Reading a function's configuration from environment variables, once, in `main`.
//!
//! Every error names the variable, so a misconfigured deployment fails its first
//! invocation with a message that says what to fix. Values of secret variables are
//! never quoted (only numeric values are).

use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;

/// Why the configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: String },
    #[error("environment variable {name} is not valid Unicode")]
    NotUnicode { name: String },
    #[error("environment variable {name} must be an integer from {min} to {max}, got {got:?}")]
    OutOfRange {
        name: String,
        min: u64,
        max: u64,
        got: String,
    },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    #[error("set only one of the environment variables {first} and {second}")]
    Conflict { first: String, second: String },
}

/// Looks a variable up by name.
type Lookup = Box<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// Where variables are read from: the process environment, or fixed pairs in tests
/// (changing the process environment is `unsafe` and racy under parallel tests).
pub struct Environment {
    lookup: Lookup,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment")
    }
}

impl Environment {
    /// The process environment.
    pub fn process() -> Environment {
        Environment {
            lookup: Box::new(|name| std::env::var_os(name)),
        }
    }

    /// Only the given variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Environment {
        let pairs: Vec<(String, OsString)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), OsString::from(v.into())))
            .collect();
        Environment {
            lookup: Box::new(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())),
        }
    }

    /// The variable's value; unset and empty (or blank) both count as not set.
    pub fn optional(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match (self.lookup)(name) {
            None => Ok(None),
            Some(raw) => match raw.into_string() {
                Ok(value) if value.trim().is_empty() => Ok(None),
                Ok(value) => Ok(Some(value)),
                Err(_) => Err(ConfigError::NotUnicode { name: name.to_owned() }),
            },
        }
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name)?
            .ok_or_else(|| ConfigError::Missing { name: name.to_owned() })
    }

    /// An optional integer in `range`, else `default`.
    pub fn u32_in(&self, name: &str, default: u32, range: RangeInclusive<u32>) -> Result<u32, ConfigError> {
        let wide = u64::from(*range.start())..=u64::from(*range.end());
        let value = self.u64_in(name, u64::from(default), wide)?;
        Ok(u32::try_from(value).expect("range is within u32"))
    }

    /// An optional integer in `range`, else `default`.
    pub fn u64_in(&self, name: &str, default: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
        match self.optional(name)? {
            None => Ok(default),
            Some(text) => parse_u64_in(name, &text, range),
        }
    }
}

/// Parses `text` (the value of `name`) as an integer in `range`.
pub fn parse_u64_in(name: &str, text: &str, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
    match text.trim().parse::<u64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ConfigError::OutOfRange {
            name: name.to_owned(),
            min: *range.start(),
            max: *range.end(),
            got: text.chars().take(40).collect(),
        }),
    }
}

/// [`Environment::required`] on the process environment.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    Environment::process().required(name)
}

/// [`Environment::optional`] on the process environment.
pub fn optional_env(name: &str) -> Result<Option<String>, ConfigError> {
    Environment::process().optional(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_and_optional() {
        let env = Environment::from_pairs([("A", "x"), ("BLANK", "  ")]);
        assert_eq!(env.required("A"), Ok("x".to_owned()));
        assert_eq!(env.optional("A"), Ok(Some("x".to_owned())));
        assert_eq!(env.optional("BLANK"), Ok(None));
        assert_eq!(env.optional("NONE"), Ok(None));
        let missing = env.required("BLANK").expect_err("blank is missing");
        assert_eq!(
            missing.to_string(),
            "environment variable BLANK is required but not set"
        );
    }

    #[test]
    fn integers_in_range_with_defaults() {
        let env = Environment::from_pairs([("N", " 25 "), ("BIG", "25001"), ("NEG", "-1"), ("TEXT", "2s")]);
        assert_eq!(env.u32_in("N", 7, 1..=25_000), Ok(25));
        assert_eq!(env.u32_in("UNSET", 7, 1..=25_000), Ok(7));
        assert_eq!(env.u64_in("N", 7, 1..=25), Ok(25));
        assert_eq!(
            env.u64_in("BIG", 7, 1..=25_000).expect_err("too big").to_string(),
            "environment variable BIG must be an integer from 1 to 25000, got \"25001\""
        );
        assert!(matches!(
            env.u32_in("NEG", 7, 1..=5),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            env.u32_in("TEXT", 7, 1..=5),
            Err(ConfigError::OutOfRange { .. })
        ));
    }

    #[test]
    fn the_process_environment_is_read() {
        // PATH is set in every test environment; a name nobody sets is absent.
        assert!(optional_env("PATH").expect("unicode").is_some());
        assert_eq!(
            required_env("CATALOG_POLLER_SURELY_UNSET_VARIABLE"),
            Err(ConfigError::Missing {
                name: "CATALOG_POLLER_SURELY_UNSET_VARIABLE".to_owned()
            })
        );
    }
}
