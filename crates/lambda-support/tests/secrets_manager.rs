//! `SecretSource::SecretsManager` against a real Secrets Manager API (moto): fetched
//! once and cached, fetched again on `refresh`, JSON fields, and errors that name the
//! ARN but never the value.

use lambda_support::secrets::{SecretError, SecretSource, secrets_manager_client_from};
use test_support::moto::MotoServer;

#[tokio::test]
async fn cached_until_refreshed_and_read_as_json() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    let arn = admin
        .create_secret()
        .name("rds-credentials")
        .secret_string(r#"{"username": "app", "password": "pw-one"}"#)
        .send()
        .await
        .expect("moto creates the secret")
        .arn
        .expect("an ARN");
    let source = SecretSource::secrets_manager(secrets_manager_client_from(&config), arn.clone());
    assert!(source.can_refresh());
    assert_eq!(source.describe(), arn);
    assert_eq!(source.current_field("password").await.expect("read").expose(), "pw-one");

    admin
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"username": "app", "password": "pw-two"}"#)
        .send()
        .await
        .expect("moto rotates");
    assert_eq!(
        source.current_field("password").await.expect("cached").expose(),
        "pw-one",
        "fetched once per container"
    );
    assert_eq!(source.refresh_field("password").await.expect("read").expose(), "pw-two");
    assert_eq!(
        source.current().await.expect("cached").expose(),
        r#"{"username": "app", "password": "pw-two"}"#
    );
    assert_eq!(source.current_field("username").await.expect("read").expose(), "app");

    let error = source.current_field("port").await.expect_err("no such field");
    assert_eq!(
        error,
        SecretError::MissingField {
            source_name: arn.clone(),
            field: "port".to_owned()
        }
    );
    assert!(!format!("{error} {error:?} {source:?}").contains("pw-two"));
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_the_arn() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf";
    let source = SecretSource::secrets_manager(secrets_manager_client_from(&config), arn);
    let error = source.current().await.expect_err("absent");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("could not read secret {arn} from Secrets Manager: ")),
        "{message}"
    );
    assert!(message.contains("ResourceNotFound"), "{message}");
    assert!(matches!(source.refresh().await, Err(SecretError::Fetch { .. })));
}

#[tokio::test]
async fn a_blank_secret_is_an_error() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let arn = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name("blank")
        .secret_string(" \n")
        .send()
        .await
        .expect("moto creates the secret")
        .arn
        .expect("an ARN");
    let source = SecretSource::secrets_manager(secrets_manager_client_from(&config), arn.clone());
    assert_eq!(source.current().await, Err(SecretError::Empty { arn }));
}
