//! SQL identifiers from the environment (validated, always double-quoted) and the
//! statements built from them; values are never part of the SQL text.

use std::fmt;

/// The longest identifier PostgreSQL keeps without truncating (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The column that receives the knowledge base name.
pub const KNOWLEDGE_BASE_COLUMN: &str = "knowledge_base_id";
/// The column that receives the data source name.
pub const DATA_SOURCE_COLUMN: &str = "data_source_id";
/// What the status column is set to by `record_ready` / `record_failure`.
pub const STATUS_READY: &str = "READY";
pub const STATUS_FAILED: &str = "FAILED";

/// Why a name from the environment is not an identifier this function accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a plain SQL identifier (a letter or _ then letters, digits or _, at most 63 characters)")]
pub struct IdentifierError {
    pub name: String,
}

/// A validated identifier: `^[A-Za-z_][A-Za-z0-9_]{0,62}$`. It is always written
/// double-quoted, so it is taken exactly as given (case included): `Catalogs` names
/// the table `"Catalogs"`, not `catalogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier(String);

impl Identifier {
    pub fn parse(name: &str) -> Result<Identifier, IdentifierError> {
        let mut chars = name.chars();
        let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let valid =
            valid_start && name.len() <= MAX_IDENTIFIER_BYTES && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Identifier(name.to_owned()))
        } else {
            Err(IdentifierError {
                name: name.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes the identifier double-quoted; validation guarantees there is no quote inside.
impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// `table` or `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<Identifier>,
    pub table: Identifier,
}

impl TableName {
    pub fn parse(name: &str) -> Result<TableName, IdentifierError> {
        match name.split_once('.') {
            None => Ok(TableName {
                schema: None,
                table: Identifier::parse(name)?,
            }),
            Some((schema, table)) => Ok(TableName {
                schema: Some(Identifier::parse(schema).map_err(|_| IdentifierError { name: name.into() })?),
                table: Identifier::parse(table).map_err(|_| IdentifierError { name: name.into() })?,
            }),
        }
    }
}

/// Writes `"schema"."table"` or `"table"`.
impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

/// Where catalogs live: the table, its id column and the optional status column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTable {
    pub table: TableName,
    pub id_column: Identifier,
    pub status_column: Option<Identifier>,
}

/// The id column's type, looked up once per connection. The id is always sent as text
/// and, for uuid and integer keys, cast in SQL to the column's own type, so the
/// comparison is `column = value of the same type` and the primary key index is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// text, varchar, char(n), name, citext: the parameter takes the column's type.
    Text,
    Uuid,
    SmallInt,
    Integer,
    BigInt,
}

impl KeyType {
    /// The key type for `format_type()` of the column's (base) type, if supported.
    pub fn from_sql_type(type_name: &str) -> Option<KeyType> {
        match type_name {
            "text" | "character varying" | "character" | "name" | "citext" => Some(KeyType::Text),
            "uuid" => Some(KeyType::Uuid),
            "smallint" => Some(KeyType::SmallInt),
            "integer" => Some(KeyType::Integer),
            "bigint" => Some(KeyType::BigInt),
            _ => None,
        }
    }

    /// The SQL for the id parameter `$1`.
    pub fn parameter(self) -> &'static str {
        match self {
            KeyType::Text => "$1",
            KeyType::Uuid => "$1::text::uuid",
            KeyType::SmallInt => "$1::text::smallint",
            KeyType::Integer => "$1::text::integer",
            KeyType::BigInt => "$1::text::bigint",
        }
    }

    /// Whether `id` can be a value of the column. An id that cannot (`cat-1` for a
    /// bigint key) names no row, so the caller reports `CatalogRowNotFound` without a
    /// query. Integers must be in canonical form (`42`, not `042` or `+42`), since
    /// that is how the backend writes them; uuids in the forms PostgreSQL prints or
    /// accepts unambiguously (`8-4-4-4-12` hex digits, or 32 hex digits, optionally in braces).
    pub fn admits(self, id: &str) -> bool {
        match self {
            KeyType::Text => true,
            KeyType::Uuid => is_uuid_text(id),
            KeyType::SmallInt => id.parse::<i16>().is_ok_and(|n| n.to_string() == id),
            KeyType::Integer => id.parse::<i32>().is_ok_and(|n| n.to_string() == id),
            KeyType::BigInt => id.parse::<i64>().is_ok_and(|n| n.to_string() == id),
        }
    }
}

fn is_uuid_text(id: &str) -> bool {
    let inner = id
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or(id);
    let hex_groups = |groups: &[usize]| {
        let parts: Vec<&str> = inner.split('-').collect();
        parts.len() == groups.len()
            && parts
                .iter()
                .zip(groups)
                .all(|(part, len)| part.len() == *len && part.chars().all(|c| c.is_ascii_hexdigit()))
    };
    hex_groups(&[8, 4, 4, 4, 12]) || hex_groups(&[32])
}

/// The statements one connection prepares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statements {
    /// `$1` id, `$2` knowledge base name, `$3` data source name.
    pub record_ready: String,
    /// `$1` id. An UPDATE of the status column, or a SELECT when there is none.
    pub record_failure: String,
}

impl CatalogTable {
    /// The SQL for this table and key type. Status values are literals (not bound
    /// parameters) so that an enum-typed status column accepts them.
    pub fn statements(&self, key: KeyType) -> Statements {
        let table = &self.table;
        let id = &self.id_column;
        let key = key.parameter();
        let ready_status = match &self.status_column {
            Some(status) => format!(", {status} = '{STATUS_READY}'"),
            None => String::new(),
        };
        let record_ready = format!(
            "UPDATE {table} SET \"{KNOWLEDGE_BASE_COLUMN}\" = $2, \"{DATA_SOURCE_COLUMN}\" = $3{ready_status} \
             WHERE {id} = {key}"
        );
        let record_failure = match &self.status_column {
            Some(status) => format!("UPDATE {table} SET {status} = '{STATUS_FAILED}' WHERE {id} = {key}"),
            None => format!("SELECT 1 FROM {table} WHERE {id} = {key}"),
        };
        Statements {
            record_ready,
            record_failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_names_only() {
        for good in ["catalogs", "_x", "Catalogs", "a1_b2", &"a".repeat(63)] {
            assert_eq!(
                Identifier::parse(good).map(|i| i.as_str().to_owned()),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a\"b",
            "a;b",
            "x\"; DROP TABLE catalogs; --",
            "é",
            &"a".repeat(64),
            "a.b",
        ] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn identifiers_are_written_quoted() {
        assert_eq!(Identifier::parse("Id").expect("valid").to_string(), "\"Id\"");
        assert_eq!(
            TableName::parse("app.catalogs").expect("valid").to_string(),
            "\"app\".\"catalogs\""
        );
        assert_eq!(TableName::parse("catalogs").expect("valid").to_string(), "\"catalogs\"");
        for bad in ["a.b.c", ".b", "a.", "a b.c", "public.cat;x"] {
            assert!(TableName::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn statements_quote_every_identifier_and_bind_every_value() {
        let table = CatalogTable {
            table: TableName::parse("app.Catalogs").expect("valid"),
            id_column: Identifier::parse("catalog_id").expect("valid"),
            status_column: Some(Identifier::parse("status").expect("valid")),
        };
        let statements = table.statements(KeyType::Uuid);
        assert_eq!(
            statements.record_ready,
            "UPDATE \"app\".\"Catalogs\" SET \"knowledge_base_id\" = $2, \"data_source_id\" = $3, \"status\" = 'READY' \
             WHERE \"catalog_id\" = $1::text::uuid"
        );
        assert_eq!(
            statements.record_failure,
            "UPDATE \"app\".\"Catalogs\" SET \"status\" = 'FAILED' WHERE \"catalog_id\" = $1::text::uuid"
        );
        let without_status = CatalogTable {
            status_column: None,
            ..table
        }
        .statements(KeyType::Text);
        assert_eq!(
            without_status.record_ready,
            "UPDATE \"app\".\"Catalogs\" SET \"knowledge_base_id\" = $2, \"data_source_id\" = $3 WHERE \"catalog_id\" = $1"
        );
        assert_eq!(
            without_status.record_failure,
            "SELECT 1 FROM \"app\".\"Catalogs\" WHERE \"catalog_id\" = $1"
        );
    }

    #[test]
    fn key_types_admit_only_values_of_their_type() {
        assert!(KeyType::Text.admits("x'; DROP TABLE catalogs; --"));
        assert!(KeyType::BigInt.admits("42"));
        assert!(KeyType::BigInt.admits("-9223372036854775808"));
        for bad in ["042", "+42", " 42", "42 ", "9223372036854775808", "cat-1", "", "4.2"] {
            assert!(!KeyType::BigInt.admits(bad), "{bad:?}");
        }
        assert!(KeyType::Integer.admits("2147483647"));
        assert!(!KeyType::Integer.admits("2147483648"));
        assert!(!KeyType::SmallInt.admits("32768"));
        for good in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert!(KeyType::Uuid.admits(good), "{good:?}");
        }
        for bad in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "cat-123",
        ] {
            assert!(!KeyType::Uuid.admits(bad), "{bad:?}");
        }
    }

    #[test]
    fn supported_key_types() {
        assert_eq!(KeyType::from_sql_type("character varying"), Some(KeyType::Text));
        assert_eq!(KeyType::from_sql_type("uuid"), Some(KeyType::Uuid));
        assert_eq!(KeyType::from_sql_type("bigint"), Some(KeyType::BigInt));
        assert_eq!(KeyType::from_sql_type("numeric"), None);
    }
}
