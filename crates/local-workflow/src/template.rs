//! `template.yaml` read as data (CloudFormation's short tags such as `!Ref` and `!GetAtt`
//! are kept as tagged values), for checks that tie the template to the definition.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;

use crate::paths;

/// Why the template could not be read or lacks something the checks rely on.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("could not read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template.yaml is not YAML: {0}")]
    NotYaml(#[from] serde_norway::Error),
    #[error("template.yaml has no {0}")]
    Missing(String),
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

impl Template {
    /// Reads `template.yaml` at the repository root.
    pub fn load() -> Result<Template, TemplateError> {
        let path = paths::template_path();
        let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            root: serde_norway::from_str(text)?,
        })
    }

    /// A resource's definition by logical id.
    pub fn resource(&self, logical_id: &str) -> Result<&Value, TemplateError> {
        self.root
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .ok_or_else(|| TemplateError::Missing(format!("resource {logical_id}")))
    }

    /// Logical ids of the resources of a type (e.g. `AWS::Serverless::Function`).
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<String> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .map(|resources| {
                resources
                    .iter()
                    .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(resource_type))
                    .filter_map(|(id, _)| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state machine resource (the only `AWS::Serverless::StateMachine`).
    pub fn state_machine(&self) -> Result<&Value, TemplateError> {
        let ids = self.resources_of_type("AWS::Serverless::StateMachine");
        match ids.as_slice() {
            [id] => self.resource(id),
            _ => Err(TemplateError::Missing(
                "single AWS::Serverless::StateMachine".to_owned(),
            )),
        }
    }

    /// The keys of the state machine's `DefinitionSubstitutions`.
    pub fn definition_substitution_keys(&self) -> Result<BTreeSet<String>, TemplateError> {
        let substitutions = self
            .state_machine()?
            .get("Properties")
            .and_then(|p| p.get("DefinitionSubstitutions"))
            .and_then(Value::as_mapping)
            .ok_or_else(|| TemplateError::Missing("DefinitionSubstitutions".to_owned()))?;
        Ok(substitutions
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect())
    }

    /// Each parameter's `Default` as text (parameters without a default are left out).
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        let Some(parameters) = self.root.get("Parameters").and_then(Value::as_mapping) else {
            return BTreeMap::new();
        };
        parameters
            .iter()
            .filter_map(|(name, parameter)| {
                let default = match parameter.get("Default")? {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    _ => return None,
                };
                Some((name.as_str()?.to_owned(), default))
            })
            .collect()
    }

    /// The names of all parameters.
    pub fn parameter_names(&self) -> BTreeSet<String> {
        self.root
            .get("Parameters")
            .and_then(Value::as_mapping)
            .map(|p| p.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// The whole document.
    pub fn root(&self) -> &Value {
        &self.root
    }
}

/// The text of a `!Ref X` (or `{"Ref": "X"}`) value, if it is one.
pub fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_as_data() {
        let template = Template::parse(
            "Parameters:\n  A: {Type: Number, Default: 20}\n  B: {Type: String}\nResources:\n  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionSubstitutions:\n        X: !GetAtt F.Arn\n        Y: !Ref A\n",
        )
        .expect("valid");
        assert_eq!(
            template.definition_substitution_keys().expect("present"),
            BTreeSet::from(["X".to_owned(), "Y".to_owned()])
        );
        assert_eq!(
            template.parameter_defaults(),
            BTreeMap::from([("A".to_owned(), "20".to_owned())])
        );
        let y = &template.state_machine().expect("one")["Properties"]["DefinitionSubstitutions"]["Y"];
        assert_eq!(ref_target(y), Some("A"));
    }
}
