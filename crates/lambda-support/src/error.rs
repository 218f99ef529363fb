//! The error a handler returns: a contract error name and a message for on-call.

use catalog_core::ErrorName;

/// A handler's error. Step Functions sees `name` as the `errorType` and `message` as
/// the cause; the message must never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub name: ErrorName,
    pub message: String,
}

impl FunctionError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> FunctionError {
        FunctionError {
            name,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> FunctionError {
        FunctionError::new(ErrorName::InvalidInput, message)
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(error: FunctionError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: error.name.as_str().to_owned(),
            error_message: error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_uses_the_contract_name_and_the_message() {
        let diagnostic = lambda_runtime::Diagnostic::from(FunctionError::new(
            ErrorName::CatalogNotFound,
            "catalog \"c\" not found",
        ));
        assert_eq!(diagnostic.error_type, "CatalogNotFound");
        assert_eq!(diagnostic.error_message, "catalog \"c\" not found");
        assert_eq!(
            FunctionError::invalid_input("bad").to_string(),
            "bad",
            "Display is the message alone"
        );
    }
}
