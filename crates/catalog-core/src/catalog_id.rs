//! The catalog id rule: 1 to 128 Unicode code points, none a control character.

use std::fmt;

use serde::{Serialize, Serializer};

/// The longest id the contract allows, in Unicode code points (not bytes).
pub const MAX_CATALOG_ID_CHARS: usize = 128;

/// A validated catalog id. Any other text (slashes, `%`, `?`, `#`, spaces, quotes,
/// non-ASCII letters) is allowed and must be carried through untouched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CatalogId(String);

/// Why a string is not a catalog id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogIdError {
    #[error("catalog_id must not be empty")]
    Empty,
    #[error("catalog_id has {chars} characters; at most {MAX_CATALOG_ID_CHARS} are allowed")]
    TooLong { chars: usize },
    #[error("catalog_id contains a control character (U+{code:04X}) at character {position}")]
    ControlCharacter { code: u32, position: usize },
}

impl CatalogId {
    /// Validates `raw` as a catalog id. The id is taken as given: no trimming, since a
    /// backend's id with a trailing space is a different id.
    pub fn parse(raw: &str) -> Result<CatalogId, CatalogIdError> {
        if raw.is_empty() {
            return Err(CatalogIdError::Empty);
        }
        let chars = raw.chars().count();
        if chars > MAX_CATALOG_ID_CHARS {
            return Err(CatalogIdError::TooLong { chars });
        }
        if let Some((position, c)) = raw.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(CatalogIdError::ControlCharacter {
                code: u32::from(c),
                position: position + 1,
            });
        }
        Ok(CatalogId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CatalogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CatalogId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl AsRef<str> for CatalogId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_awkward_but_legal_ids() {
        for id in [
            "cat-123",
            "a/b c'é",
            "100%?#x",
            "\"quoted\"",
            "日本語カタログ",
            " leading",
            "x'; DROP TABLE catalogs; --",
        ] {
            assert_eq!(CatalogId::parse(id).map(CatalogId::into_string), Ok(id.to_owned()));
        }
    }

    #[test]
    fn counts_code_points_not_bytes() {
        let at_limit = "é".repeat(128);
        assert!(at_limit.len() > 128);
        assert!(CatalogId::parse(&at_limit).is_ok());
        let over = "é".repeat(129);
        assert_eq!(CatalogId::parse(&over), Err(CatalogIdError::TooLong { chars: 129 }));
        assert!(CatalogId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            CatalogId::parse(&"a".repeat(129)),
            Err(CatalogIdError::TooLong { chars: 129 })
        );
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        assert_eq!(CatalogId::parse(""), Err(CatalogIdError::Empty));
        for (id, code, position) in [
            ("a\nb", 0x0a, 2),
            ("\u{0}", 0, 1),
            ("ab\u{7f}", 0x7f, 3),
            ("x\u{85}", 0x85, 2),
            ("\t", 9, 1),
        ] {
            assert_eq!(
                CatalogId::parse(id),
                Err(CatalogIdError::ControlCharacter { code, position })
            );
        }
    }

    #[test]
    fn format_characters_are_not_control_characters() {
        // U+200B (zero width space, category Cf) is not in Cc, so it is allowed.
        assert!(CatalogId::parse("a\u{200b}b").is_ok());
    }
}
