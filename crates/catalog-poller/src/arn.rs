//! The state machine ARN, and the execution ARN a catalog's execution name gets under it.

use std::fmt;

use crate::error::PollerError;
use crate::execution_name::ExecutionName;

/// A state machine ARN: `arn:<partition>:states:<region>:<account>:stateMachine:<name>`,
/// optionally followed by `:<version or alias>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineArn {
    arn: String,
    partition: String,
    region: String,
    account: String,
    name: String,
}

impl StateMachineArn {
    /// Checks the ARN's shape; an empty one is [`PollerError::MissingStateMachineArn`].
    pub fn parse(arn: &str) -> Result<StateMachineArn, PollerError> {
        let arn = arn.trim();
        if arn.is_empty() {
            return Err(PollerError::MissingStateMachineArn);
        }
        let invalid = || PollerError::InvalidStateMachineArn(arn.to_owned());
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            [
                "arn",
                partition,
                "states",
                region,
                account,
                "stateMachine",
                name,
                qualifier @ ..,
            ] if !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && !name.is_empty()
                && qualifier.len() <= 1 =>
            {
                Ok(StateMachineArn {
                    arn: arn.to_owned(),
                    partition: (*partition).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                    name: (*name).to_owned(),
                })
            }
            _ => Err(invalid()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The region the state machine lives in (its API must be called there).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The ARN of the execution `name` of this state machine. Executions started
    /// through a version or alias ARN live under the state machine's name too.
    pub fn execution_arn(&self, name: &ExecutionName) -> String {
        format!(
            "arn:{}:states:{}:{}:execution:{}:{}",
            self.partition, self.region, self.account, self.name, name
        )
    }
}

impl fmt::Display for StateMachineArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use catalog_core::CatalogId;

    use super::*;

    #[test]
    fn execution_arn_replaces_the_resource_type_and_appends_the_name() {
        let arn =
            StateMachineArn::parse("arn:aws:states:eu-west-1:111122223333:stateMachine:catalog-poller").expect("valid");
        let name = ExecutionName::for_catalog(&CatalogId::parse("cat-1").expect("valid"));
        assert_eq!(
            arn.execution_arn(&name),
            format!("arn:aws:states:eu-west-1:111122223333:execution:catalog-poller:{name}")
        );
        assert_eq!(arn.region(), "eu-west-1");
        let aliased = StateMachineArn::parse("arn:aws-cn:states:cn-north-1:1:stateMachine:m:live").expect("alias");
        assert_eq!(
            aliased.execution_arn(&name),
            format!("arn:aws-cn:states:cn-north-1:1:execution:m:{name}")
        );
    }

    #[test]
    fn rejects_what_is_not_a_state_machine_arn() {
        assert!(matches!(
            StateMachineArn::parse("  "),
            Err(PollerError::MissingStateMachineArn)
        ));
        for bad in [
            "catalog-poller",
            "arn:aws:states:eu-west-1:1:execution:m:e",
            "arn:aws:lambda:eu-west-1:1:function:f",
            "arn:aws:states::1:stateMachine:m",
            "arn:aws:states:eu-west-1:1:stateMachine:",
            "arn:aws:states:eu-west-1:1:stateMachine:m:a:b",
        ] {
            assert!(
                matches!(StateMachineArn::parse(bad), Err(PollerError::InvalidStateMachineArn(_))),
                "{bad}"
            );
        }
    }
}
