//! Third-party validators on `template.yaml` and `state_machine.json` (cfn-lint,
//! `sam validate --lint`, asl-validator, statelint), and the checks that tie the two
//! files and the workflow contract together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use catalog_core::ErrorName;
use catalog_core::input::{DEFAULT_MAX_ATTEMPTS, DEFAULT_POLL_INTERVAL_SECONDS};
use local_workflow::definition::{self, CHECK_FUNCTION_ARN, EXECUTION_TIMEOUT_SECONDS, UPDATE_FUNCTION_ARN};
use local_workflow::paths;
use local_workflow::template::{Template, ref_target};
use serde_json::Value;

fn run(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(paths::repo_root())
        .env("PATH", paths::tool_path_env());
    for (key, value) in envs {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", program.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The definition as CloudFormation would deploy it, with the template's default timeout
/// and ARNs of the shape CloudFormation generates.
fn deployed_definition() -> String {
    let defaults = Template::load().expect("template").parameter_defaults();
    let values = BTreeMap::from([
        (
            CHECK_FUNCTION_ARN.to_owned(),
            "arn:aws:lambda:eu-west-1:123456789012:function:poller-CheckCatalogStatusFunction-AbC123".to_owned(),
        ),
        (
            UPDATE_FUNCTION_ARN.to_owned(),
            "arn:aws:lambda:eu-west-1:123456789012:function:poller-UpdateCatalogDbFunction-DeF456".to_owned(),
        ),
        (
            EXECUTION_TIMEOUT_SECONDS.to_owned(),
            defaults[EXECUTION_TIMEOUT_SECONDS].clone(),
        ),
    ]);
    definition::substitute(&definition::raw_definition().expect("readable"), &values).expect("every placeholder known")
}

fn deployed_definition_json() -> Value {
    serde_json::from_str(&deployed_definition()).expect("JSON once substituted")
}

#[test]
fn cfn_lint_reports_no_error_warning_or_informational_finding() {
    let cfn_lint = paths::venv_tool("cfn-lint").expect("cfn-lint installed");
    let output = run(
        &cfn_lint,
        &[
            "--include-checks",
            "I",
            "--non-zero-exit-code",
            "informational",
            "--format",
            "parseable",
            "template.yaml",
        ],
        &[],
    );
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint findings:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn cfn_lint_does_find_a_broken_template() {
    // The check above must be able to fail: a dangling !Ref is an error.
    let cfn_lint = paths::venv_tool("cfn-lint").expect("cfn-lint installed");
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = std::fs::read_to_string(paths::template_path())
        .expect("template")
        .replace("Value: !Ref CatalogPollerStateMachine", "Value: !Ref NoSuchResource");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).expect("write");
    let output = run(&cfn_lint, &[path.to_str().expect("utf-8 path")], &[]);
    assert!(!output.status.success(), "cfn-lint accepted a dangling !Ref");
    assert!(text(&output.stdout).contains("NoSuchResource"));
}

#[test]
fn sam_validate_lint_accepts_the_template() {
    let sam = paths::venv_tool("sam").expect("sam installed");
    let output = run(
        &sam,
        &["validate", "--lint", "--template", "template.yaml"],
        &[("AWS_DEFAULT_REGION", "us-east-1"), ("SAM_CLI_TELEMETRY", "0")],
    );
    assert!(
        output.status.success() && text(&output.stdout).contains("is a valid SAM Template"),
        "sam validate --lint:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn asl_validator_and_statelint_accept_the_deployed_definition_and_reject_a_broken_one() {
    let asl_validator = paths::node_tool("asl-validator").expect("asl-validator installed");
    let statelint = paths::node_tool("statelint").expect("statelint installed");
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("state_machine.json");
    std::fs::write(&good, deployed_definition()).expect("write");
    let good = good.to_str().expect("utf-8 path");

    let output = run(&asl_validator, &["--json-path", good], &[]);
    assert!(
        output.status.success(),
        "asl-validator:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let output = run(&statelint, &[good], &[]);
    assert!(
        output.status.success(),
        "statelint:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );

    let mut broken = deployed_definition_json();
    broken["States"]["WaitBeforeNextPoll"]["Next"] = Value::from("NoSuchState");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).expect("write");
    let bad = bad.to_str().expect("utf-8 path");
    assert!(!run(&asl_validator, &["--json-path", bad], &[]).status.success());
    assert!(!run(&statelint, &[bad], &[]).status.success());
}

#[test]
fn placeholders_and_definition_substitutions_match_one_to_one() {
    let placeholders = definition::placeholders(&definition::raw_definition().expect("readable")).expect("terminated");
    let substitutions = Template::load()
        .expect("template")
        .definition_substitution_keys()
        .expect("present");
    assert_eq!(placeholders, substitutions);
    assert_eq!(
        placeholders,
        BTreeSet::from([
            CHECK_FUNCTION_ARN.to_owned(),
            UPDATE_FUNCTION_ARN.to_owned(),
            EXECUTION_TIMEOUT_SECONDS.to_owned()
        ])
    );
}

#[test]
fn substitutions_reference_the_functions_and_the_timeout_parameter() {
    let template = Template::load().expect("template");
    let substitutions = &template.state_machine().expect("one")["Properties"]["DefinitionSubstitutions"];
    let get_att = |key: &str| match &substitutions[key] {
        serde_norway::Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    };
    assert_eq!(
        get_att(CHECK_FUNCTION_ARN).as_deref(),
        Some("CheckCatalogStatusFunction.Arn")
    );
    assert_eq!(
        get_att(UPDATE_FUNCTION_ARN).as_deref(),
        Some("UpdateCatalogDbFunction.Arn")
    );
    assert_eq!(
        ref_target(&substitutions[EXECUTION_TIMEOUT_SECONDS]),
        Some(EXECUTION_TIMEOUT_SECONDS)
    );
}

#[test]
fn template_poll_defaults_are_the_contract_defaults_and_the_timeout_covers_the_longest_run() {
    let template = Template::load().expect("template");
    let defaults = template.parameter_defaults();
    let number = |name: &str| -> u64 { defaults[name].parse().unwrap_or_else(|_| panic!("{name} is a number")) };
    assert_eq!(number("PollIntervalSeconds"), u64::from(DEFAULT_POLL_INTERVAL_SECONDS));
    assert_eq!(number("MaxAttempts"), u64::from(DEFAULT_MAX_ATTEMPTS));

    // The rule for the safety net: above max_attempts x (interval + the check function's
    // timeout) plus 15 minutes for recording the outcome with its retries.
    let check_timeout = template.resource("CheckCatalogStatusFunction").expect("function")["Properties"]["Timeout"]
        .as_u64()
        .expect("numeric timeout");
    let longest_run = number("MaxAttempts") * (number("PollIntervalSeconds") + check_timeout) + 15 * 60;
    assert!(
        number(EXECUTION_TIMEOUT_SECONDS) > longest_run,
        "ExecutionTimeoutSeconds {} does not cover the longest default run ({longest_run} s)",
        number(EXECUTION_TIMEOUT_SECONDS)
    );
}

fn task_states(definition: &Value) -> Vec<(&str, &Value)> {
    definition["States"]
        .as_object()
        .expect("States")
        .iter()
        .filter(|(_, state)| state["Type"] == "Task")
        .map(|(name, state)| (name.as_str(), state))
        .collect()
}

fn retriers_for<'a>(state: &'a Value, error: &str) -> Vec<&'a Value> {
    state["Retry"]
        .as_array()
        .map(|retriers| {
            retriers
                .iter()
                .filter(|r| {
                    r["ErrorEquals"]
                        .as_array()
                        .is_some_and(|errors| errors.iter().any(|e| e == error))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn retry_rules_follow_the_contract() {
    let definition = deployed_definition_json();
    let update_resource = format!("${{{UPDATE_FUNCTION_ARN}}}");
    let raw: Value = serde_json::from_str(
        &definition::raw_definition()
            .expect("readable")
            .replace(&format!("${{{EXECUTION_TIMEOUT_SECONDS}}}"), "1"),
    )
    .expect("JSON with the timeout filled in");
    for (name, state) in task_states(&definition) {
        for lambda_error in [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ] {
            let retriers = retriers_for(state, lambda_error);
            assert_eq!(retriers.len(), 1, "{name} retries {lambda_error} once");
            assert_eq!(retriers[0]["JitterStrategy"], "FULL", "{name} {lambda_error}");
            assert!(
                retriers[0]["BackoffRate"].as_f64() > Some(1.0),
                "{name} {lambda_error} backs off"
            );
        }
        // Nothing retries everything: a catch-all would retry CatalogRowNotFound.
        for never in [
            "CatalogRowNotFound",
            "States.ALL",
            "States.TaskFailed",
            "InvalidInput",
            "CatalogNotFound",
        ] {
            assert!(retriers_for(state, never).is_empty(), "{name} must not retry {never}");
        }
        let invokes_update = raw["States"][name]["Resource"] == update_resource.as_str();
        let database = retriers_for(state, "DatabaseUnavailable");
        if invokes_update {
            let [retrier] = database.as_slice() else {
                panic!("{name} retries DatabaseUnavailable exactly once")
            };
            assert!(
                retrier["IntervalSeconds"].as_u64() <= Some(5),
                "{name}: first retry within 5 s"
            );
            assert!(retrier["MaxAttempts"].as_u64() >= Some(3), "{name}: at least 3 retries");
            assert!(retrier["BackoffRate"].as_f64() > Some(1.0), "{name}: backoff");
            // The UPDATE is idempotent, so a timed-out or crashed invocation is retried.
            assert_eq!(retriers_for(state, "Sandbox.Timedout").len(), 1, "{name}");
            assert_eq!(retriers_for(state, "Lambda.Unknown").len(), 1, "{name}");
        } else {
            assert!(database.is_empty(), "{name} does not talk to the database");
            // A timed-out check may have called the API; retrying could exceed max_attempts calls.
            assert!(retriers_for(state, "Sandbox.Timedout").is_empty(), "{name}");
            assert!(retriers_for(state, "Lambda.Unknown").is_empty(), "{name}");
        }
    }
}

#[test]
fn fail_states_use_contract_error_names() {
    let definition = deployed_definition_json();
    let states = definition["States"].as_object().expect("States");
    let fixed: BTreeMap<&str, &str> = states
        .iter()
        .filter(|(_, s)| s["Type"] == "Fail")
        .filter_map(|(name, s)| s["Error"].as_str().map(|e| (name.as_str(), e)))
        .collect();
    assert_eq!(
        fixed,
        BTreeMap::from([
            ("InvalidInput", ErrorName::InvalidInput.as_str()),
            ("MaxAttemptsReached", ErrorName::MaxAttemptsReached.as_str())
        ])
    );
    // Every error a Catch names is a contract name or a Step Functions/Lambda error.
    for (name, state) in task_states(&definition) {
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            for error in catcher["ErrorEquals"].as_array().expect("ErrorEquals") {
                let error = error.as_str().expect("string");
                assert!(
                    ErrorName::parse(error).is_some() || error == "States.ALL",
                    "{name} catches unknown error {error}"
                );
            }
        }
    }
}

/// Every (Action, Resource) pair of the template's own IAM statements.
fn iam_statements(value: &serde_norway::Value, found: &mut Vec<(Vec<String>, serde_norway::Value)>) {
    use serde_norway::Value as Y;
    match value {
        Y::Mapping(map) => {
            if let (Some(action), Some(resource)) = (map.get("Action"), map.get("Resource")) {
                let actions = match action {
                    Y::String(one) => vec![one.clone()],
                    Y::Sequence(many) => many.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                    other => panic!("unexpected Action {other:?}"),
                };
                found.push((actions, resource.clone()));
            }
            for (_, child) in map {
                iam_statements(child, found);
            }
        }
        Y::Sequence(items) => items.iter().for_each(|child| iam_statements(child, found)),
        Y::Tagged(tagged) => iam_statements(&tagged.value, found),
        _ => {}
    }
}

#[test]
fn iam_has_no_wildcard_actions_and_wildcard_resources_only_where_aws_requires_them() {
    let template = Template::load().expect("template");
    let mut statements = Vec::new();
    iam_statements(template.root(), &mut statements);
    assert!(statements.len() >= 6, "found the IAM statements: {statements:?}");
    let wildcard = serde_norway::Value::String("*".to_owned());
    let mut actions_on_everything = BTreeSet::new();
    for (actions, resource) in &statements {
        for action in actions {
            assert!(!action.contains('*'), "wildcard action {action}");
        }
        let on_everything = resource == &wildcard || resource.as_sequence().is_some_and(|r| r.contains(&wildcard));
        if on_everything {
            actions_on_everything.extend(actions.iter().cloned());
        }
    }
    // Log delivery (Step Functions -> CloudWatch Logs) and Lambda's VPC network interfaces
    // support no resource-level permissions.
    let allowed: BTreeSet<String> = [
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(
        actions_on_everything.is_subset(&allowed),
        "Resource \"*\" for {:?}",
        actions_on_everything.difference(&allowed).collect::<Vec<_>>()
    );
    // Functions use the explicit roles, so SAM attaches no AWSLambdaBasicExecutionRole.
    for function in template.resources_of_type("AWS::Serverless::Function") {
        let properties = &template.resource(&function).expect("function")["Properties"];
        assert!(properties.get("Role").is_some(), "{function} has an explicit role");
        assert!(
            properties.get("Policies").is_none(),
            "{function}: Policies would be ignored"
        );
    }
}

/// The environment variable names a function's source reads (string literals in its
/// `config.rs`): what the template must set, and nothing else.
fn variables_read_by(crate_dir: &str) -> BTreeSet<String> {
    let source = std::fs::read_to_string(paths::repo_root().join(crate_dir).join("src").join("config.rs"))
        .unwrap_or_else(|e| panic!("{crate_dir}/src/config.rs: {e}"));
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|text| text.len() >= 6 && text.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_template_sets_exactly_the_variables_the_functions_read_less_the_plain_secrets() {
    let template = Template::load().expect("template");
    for (function, crate_dir, not_deployed) in [
        (
            "CheckCatalogStatusFunction",
            "crates/check-catalog-status",
            // A plain-text token is for local runs; deployments use the secret's ARN.
            &["CATALOG_API_TOKEN"][..],
        ),
        (
            "UpdateCatalogDbFunction",
            "crates/update-catalog-db",
            // Credentials come from DB_SECRET_ARN (the RDS secret has the user name).
            &["DB_PASSWORD", "DB_USER"][..],
        ),
    ] {
        let variables = &template.resource(function).expect("function")["Properties"]["Environment"]["Variables"];
        let set: BTreeSet<String> = variables
            .as_mapping()
            .expect("a mapping")
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let mut expected = variables_read_by(crate_dir);
        for name in not_deployed {
            assert!(expected.remove(*name), "{crate_dir} no longer reads {name}");
        }
        assert_eq!(set, expected, "{function}'s environment vs what {crate_dir} reads");
    }
}
