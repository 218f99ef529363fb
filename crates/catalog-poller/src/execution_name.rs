//! The execution name of a catalog's poll: derived from the catalog id, valid, stable, distinct.
//!
//! Rule (also implemented by `examples/start_poll.py`; both must stay identical):
//!
//! ```text
//! catalog-<readable>-<digest>[-r<run>]
//!   readable = the first 40 code points of the id, each one outside [A-Za-z0-9_-] replaced by "_"
//!   digest   = the first 24 hex digits of SHA-256(the id's UTF-8 bytes)
//!   run      = only for a deliberate re-poll (run 2, 3, ...); run 1 has no suffix
//! ```
//!
//! * Valid: only `[A-Za-z0-9_-]` (which AWS recommends so CloudWatch logging works), at
//!   most 8 + 40 + 1 + 24 + 7 = 80 characters, for every id the contract allows.
//! * Stable: a pure function of the id (and the run number).
//! * Distinct: the digest covers the whole id, so ids that differ only in replaced or
//!   truncated characters still get different names (96 bits: collisions are not a concern).
//!
//! Step Functions keeps a closed execution's name for 90 days, so run 1 of a catalog can
//! be started once in that window; a deliberate re-poll takes the next run number.

use std::fmt::{self, Write as _};

use catalog_core::CatalogId;
use sha2::{Digest, Sha256};

/// What every name starts with, so a console listing shows what the execution is for.
pub const NAME_PREFIX: &str = "catalog-";
/// Code points of the id kept readable in the name.
pub const READABLE_CHARS: usize = 40;
/// Hex digits of the SHA-256 digest of the id.
pub const DIGEST_HEX_DIGITS: usize = 24;
/// Step Functions' limit on execution names.
pub const MAX_EXECUTION_NAME_CHARS: usize = 80;
/// The highest run number; keeps the longest name within 80 characters.
pub const MAX_RUN: u32 = 99_999;

/// A valid Step Functions execution name for one poll run of one catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecutionName(String);

/// A run number outside 1..=[`MAX_RUN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("run {0} is out of range: runs are numbered from 1 to {MAX_RUN}")]
pub struct RunOutOfRange(pub u32);

impl ExecutionName {
    /// The name of a catalog's first (usual) poll.
    pub fn for_catalog(catalog_id: &CatalogId) -> ExecutionName {
        ExecutionName(base_name(catalog_id))
    }

    /// The name of run `run` of a catalog's poll; run 1 is [`ExecutionName::for_catalog`].
    pub fn for_run(catalog_id: &CatalogId, run: u32) -> Result<ExecutionName, RunOutOfRange> {
        match run {
            1 => Ok(ExecutionName::for_catalog(catalog_id)),
            2..=MAX_RUN => Ok(ExecutionName(format!("{}-r{run}", base_name(catalog_id)))),
            _ => Err(RunOutOfRange(run)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn base_name(catalog_id: &CatalogId) -> String {
    let id = catalog_id.as_str();
    let mut name = String::with_capacity(NAME_PREFIX.len() + READABLE_CHARS + 1 + DIGEST_HEX_DIGITS);
    name.push_str(NAME_PREFIX);
    name.extend(id.chars().take(READABLE_CHARS).map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        }
    }));
    name.push('-');
    for byte in Sha256::digest(id.as_bytes()).iter().take(DIGEST_HEX_DIGITS / 2) {
        write!(name, "{byte:02x}").expect("writing to a String cannot fail");
    }
    name
}

/// Whether `name` is a valid Step Functions execution name: 1 to 80 characters, no
/// whitespace, none of `< > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /`, no control
/// characters (U+0000–U+001F, U+007F–U+009F). Used to check the rule above.
pub fn is_valid_execution_name(name: &str) -> bool {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let chars = name.chars().count();
    (1..=MAX_EXECUTION_NAME_CHARS).contains(&chars)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(c))
}

/// Whether `name` uses only the characters AWS recommends for CloudWatch logging.
pub fn is_log_friendly(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(id: &str) -> String {
        ExecutionName::for_catalog(&CatalogId::parse(id).expect("valid id")).0
    }

    #[test]
    fn plain_ids_stay_readable() {
        let n = name("cat-123");
        assert!(n.starts_with("catalog-cat-123-"), "{n}");
        assert_eq!(n.len(), "catalog-cat-123-".len() + DIGEST_HEX_DIGITS);
    }

    #[test]
    fn known_digest_pins_the_rule() {
        // `printf 'cat-123' | sha256sum` = dddccfb7f51eb6434378695822194fc2…
        assert_eq!(name("cat-123"), "catalog-cat-123-dddccfb7f51eb64343786958");
    }

    #[test]
    fn hostile_ids_give_valid_log_friendly_names() {
        let long_unicode = "日本語カタログ🚀é".repeat(15).chars().take(128).collect::<String>();
        assert_eq!(long_unicode.chars().count(), 128);
        for id in [
            "a/b c'é",
            long_unicode.as_str(),
            &"x".repeat(128),
            "<>{}[]?*\"#%\\^|~`$&,;:/",
            " ",
            "\u{200b}",
            "a\u{a0}b",
        ] {
            let n = name(id);
            assert!(is_valid_execution_name(&n), "{id:?} -> {n:?}");
            assert!(is_log_friendly(&n), "{id:?} -> {n:?}");
            assert_eq!(n, name(id), "stable");
        }
        assert_eq!(name("a/b c'é"), format!("catalog-a_b_c__-{}", &name("a/b c'é")[16..]));
    }

    #[test]
    fn ids_that_differ_only_in_replaced_or_cut_characters_get_different_names() {
        assert_ne!(name("a/b"), name("a:b"));
        assert_ne!(name("a/b"), name("a_b"));
        assert_ne!(name("é"), name("è"));
        let prefix = "p".repeat(READABLE_CHARS);
        assert_ne!(name(&format!("{prefix}1")), name(&format!("{prefix}2")));
    }

    #[test]
    fn runs_are_suffixed_and_bounded() {
        let id = CatalogId::parse(&"é".repeat(128)).expect("valid");
        assert_eq!(ExecutionName::for_run(&id, 1), Ok(ExecutionName::for_catalog(&id)));
        let second = ExecutionName::for_run(&id, 2).expect("run 2");
        assert_eq!(second.0, format!("{}-r2", ExecutionName::for_catalog(&id).0));
        let last = ExecutionName::for_run(&id, MAX_RUN).expect("last run");
        assert_eq!(last.0.chars().count(), MAX_EXECUTION_NAME_CHARS);
        assert!(is_valid_execution_name(&last.0));
        assert_eq!(ExecutionName::for_run(&id, 0), Err(RunOutOfRange(0)));
        assert_eq!(
            ExecutionName::for_run(&id, MAX_RUN + 1),
            Err(RunOutOfRange(MAX_RUN + 1))
        );
    }

    #[test]
    fn validity_check_rejects_what_aws_rejects() {
        for bad in ["", "a b", "a/b", "a\u{1}", "a\u{85}", "a:b", &"x".repeat(81)] {
            assert!(!is_valid_execution_name(bad), "{bad:?}");
        }
        assert!(is_valid_execution_name(&"x".repeat(80)));
    }
}
