//! The closed list of error names that Step Functions sees from this workflow.

use std::fmt;

/// Every `errorType` either Lambda returns is one of these; the state machine adds
/// [`ErrorName::MaxAttemptsReached`]. The names are part of the contract with the
/// state machine's `Retry`/`Catch` rules and with on-call: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// The event is not a valid execution input (or not JSON the function can read).
    InvalidInput,
    /// The catalog API answered 404 for this catalog.
    CatalogNotFound,
    /// The catalog API refused the request (401, 403, other 4xx but 408/429).
    CatalogApiRejected,
    /// The catalog API reports the catalog's provisioning as FAILED or ERROR.
    CatalogProvisioningFailed,
    /// The database has no catalog row with this id.
    CatalogRowNotFound,
    /// The database could not be reached or could not finish the statement (transient).
    DatabaseUnavailable,
    /// The poll ran out of attempts (raised by the state machine, not a Lambda).
    MaxAttemptsReached,
}

impl ErrorName {
    /// All names, in the order the documentation lists them.
    pub const ALL: [ErrorName; 7] = [
        ErrorName::InvalidInput,
        ErrorName::CatalogNotFound,
        ErrorName::CatalogApiRejected,
        ErrorName::CatalogProvisioningFailed,
        ErrorName::CatalogRowNotFound,
        ErrorName::DatabaseUnavailable,
        ErrorName::MaxAttemptsReached,
    ];

    /// The name as Step Functions sees it (`errorType` / `Error`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "InvalidInput",
            ErrorName::CatalogNotFound => "CatalogNotFound",
            ErrorName::CatalogApiRejected => "CatalogApiRejected",
            ErrorName::CatalogProvisioningFailed => "CatalogProvisioningFailed",
            ErrorName::CatalogRowNotFound => "CatalogRowNotFound",
            ErrorName::DatabaseUnavailable => "DatabaseUnavailable",
            ErrorName::MaxAttemptsReached => "MaxAttemptsReached",
        }
    }

    /// Parses a name as Step Functions reports it.
    pub fn parse(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// Whether the state machine retries this error (only `DatabaseUnavailable`).
    pub const fn is_transient(self) -> bool {
        matches!(self, ErrorName::DatabaseUnavailable)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for name in ErrorName::ALL {
            assert_eq!(ErrorName::parse(name.as_str()), Some(name));
            assert_eq!(name.to_string(), name.as_str());
        }
        assert_eq!(ErrorName::parse("Panic"), None);
        assert_eq!(ErrorName::parse("invalidinput"), None);
    }

    #[test]
    fn only_database_unavailable_is_transient() {
        let transient: Vec<_> = ErrorName::ALL.into_iter().filter(|n| n.is_transient()).collect();
        assert_eq!(transient, vec![ErrorName::DatabaseUnavailable]);
    }
}
