//! Running a handler on `lambda_runtime` so that every error it reports is a contract name.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use catalog_core::InputError;
use futures_util::FutureExt;
use lambda_runtime::{Context, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::error::FunctionError;
use crate::event::RawEvent;

/// The message returned for a panic. The panic itself is logged at ERROR, never
/// returned: its text is not written for on-call and could quote anything.
pub const PANIC_MESSAGE: &str = "internal error while handling the event; see the function's logs";

/// Runs the Lambda runtime loop with `handler` until the sandbox is shut down.
///
/// The handler gets the event as a [`Value`] and returns any `Serialize` output (the
/// function's result) or a [`FunctionError`]. It may borrow clients built in `main`.
/// Events the runtime cannot decode and panics in the handler are reported as
/// `InvalidInput` (see [`handle_event`]).
pub async fn run<H, Fut, O>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Value, Context) -> Fut,
    Fut: Future<Output = Result<O, FunctionError>>,
    O: Serialize,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<RawEvent>| {
        // Boxed: the runtime's, our and the handler's futures nested by value overflow
        // rustc's layout query depth in a `main` that also builds AWS clients.
        Box::pin(handle_event(event.payload, event.context, handler))
    }))
    .await
}

/// One invocation: decodes nothing further, calls `handler`, and maps what must not
/// escape as a non-contract `errorType`:
/// * an undecodable event becomes `InvalidInput` ("the event is not JSON this function can read: …");
/// * a panic (while creating or polling the handler's future) becomes `InvalidInput`
///   with [`PANIC_MESSAGE`]; the panic is logged at ERROR.
pub async fn handle_event<H, Fut, O>(raw: RawEvent, context: Context, handler: &H) -> Result<O, FunctionError>
where
    H: Fn(Value, Context) -> Fut,
    Fut: Future<Output = Result<O, FunctionError>>,
{
    let event = match raw {
        RawEvent::Json(event) => event,
        RawEvent::Undecodable(reason) => {
            let error = FunctionError::invalid_input(InputError::Undecodable(reason).to_string());
            tracing::warn!(error = %error.message, "rejected an event that is not readable JSON");
            return Err(error);
        }
    };
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(event, context))) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    outcome.unwrap_or_else(|panic| {
        tracing::error!(panic = panic_text(panic.as_ref()), "the handler panicked");
        Err(FunctionError::invalid_input(PANIC_MESSAGE))
    })
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not text)")
}

#[cfg(test)]
mod tests {
    use catalog_core::ErrorName;
    use serde_json::json;

    use super::*;

    async fn echo(event: Value, _: Context) -> Result<Value, FunctionError> {
        match event.get("fail") {
            Some(_) => Err(FunctionError::new(ErrorName::CatalogNotFound, "not found")),
            None => Ok(json!({"echo": event})),
        }
    }

    #[tokio::test]
    async fn json_events_reach_the_handler_and_its_result_is_returned() {
        let result = handle_event(RawEvent::Json(json!({"a": 1})), Context::default(), &echo).await;
        assert_eq!(result, Ok(json!({"echo": {"a": 1}})));
        let result = handle_event(RawEvent::Json(json!({"fail": true})), Context::default(), &echo).await;
        assert_eq!(result, Err(FunctionError::new(ErrorName::CatalogNotFound, "not found")));
    }

    #[tokio::test]
    async fn undecodable_events_are_invalid_input_without_calling_the_handler() {
        let called = std::sync::atomic::AtomicBool::new(false);
        let handler = |_: Value, _: Context| {
            called.store(true, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, FunctionError>(json!(null)) }
        };
        let error = handle_event(
            RawEvent::Undecodable("recursion limit exceeded at line 1 column 129".into()),
            Context::default(),
            &handler,
        )
        .await
        .expect_err("undecodable");
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert_eq!(
            error.message,
            "the event is not JSON this function can read: recursion limit exceeded at line 1 column 129"
        );
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "InvalidInput");
    }

    #[tokio::test]
    async fn a_panic_while_polling_is_invalid_input_with_a_generic_message() {
        let handler = |event: Value, _: Context| async move {
            assert!(!event.is_object(), "secret detail {}", "hunter2");
            Ok::<Value, FunctionError>(event)
        };
        let error = handle_event(RawEvent::Json(json!({})), Context::default(), &handler)
            .await
            .expect_err("panicked");
        assert_eq!(error, FunctionError::invalid_input(PANIC_MESSAGE));
        assert!(!error.message.contains("hunter2"));
        // The runtime keeps serving: the next event is handled normally.
        let ok = handle_event(RawEvent::Json(json!(1)), Context::default(), &handler).await;
        assert_eq!(ok, Ok(json!(1)));
    }

    #[tokio::test]
    async fn a_panic_before_the_future_exists_is_caught_too() {
        #[allow(clippy::unused_async)]
        async fn never(_: Value) -> Result<Value, FunctionError> {
            Ok(Value::Null)
        }
        let handler = |event: Value, _: Context| {
            assert!(event.is_null(), "synchronous panic");
            never(event)
        };
        let error = handle_event(RawEvent::Json(json!({})), Context::default(), &handler)
            .await
            .expect_err("panicked");
        assert_eq!(lambda_runtime::Diagnostic::from(error).error_type, "InvalidInput");
    }

    #[test]
    fn panic_payload_text() {
        assert_eq!(panic_text(&"literal"), "literal");
        assert_eq!(panic_text(&String::from("formatted")), "formatted");
        assert_eq!(panic_text(&42_u8), "(a panic payload that is not text)");
    }
}
