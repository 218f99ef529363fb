//! The floor of `make bench`: a `lambda_runtime` function that returns its event and does
//! nothing else, built with the same profile and `cargo lambda build` command as the real
//! functions, so their init time, latency and memory can be read against it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(event.payload)
    }))
    .await
}
