//! The tracing subscriber every function installs once in `main`.
//!
//! * JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (Lambda's advanced logging controls),
//!   text otherwise. Each line carries the fields of the spans it is in (the JSON
//!   `span` and `spans` keys), so a handler's span with `catalog_id` and `attempt`
//!   tags every line of an invocation.
//! * The level comes from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (a plain level such as
//!   `debug`), else INFO; it applies only to our crates and `lambda_runtime`. Every
//!   other crate (hyper, reqwest, rustls, h2, tokio_postgres, aws_*) is capped at WARN
//!   whatever the setting, so no dependency can log a header, a URL with credentials or
//!   a password at DEBUG or TRACE.

use std::io;
use std::str::FromStr;

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The crates whose events follow the configured level. A target matches by prefix,
/// so `lambda_runtime` would also admit `lambda_runtime_api_client`; that one is
/// listed in [`CAPPED_TARGETS`] (the longer match wins).
pub const OUR_TARGETS: [&str; 7] = [
    "catalog_core",
    "lambda_support",
    "check_catalog_status",
    "update_catalog_db",
    "catalog_poller",
    "local_workflow",
    "lambda_runtime",
];
/// Crates that share a prefix with [`OUR_TARGETS`] but are third-party.
const CAPPED_TARGETS: [&str; 1] = ["lambda_runtime_api_client"];
/// The most any third-party crate may log.
pub const THIRD_PARTY_CAP: LevelFilter = LevelFilter::WARN;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `JSON` (any case) means JSON; anything else, or unset, means text.
    pub fn from_setting(setting: Option<&str>) -> LogFormat {
        match setting {
            Some(value) if value.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// The level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Lambda's `FATAL`
/// means ERROR. A value that is not a level name (e.g. a `RUST_LOG` directive list)
/// counts as INFO.
pub fn level_from_settings(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    let Some(value) = aws_lambda_log_level.or(rust_log).map(str::trim) else {
        return LevelFilter::INFO;
    };
    if value.eq_ignore_ascii_case("fatal") {
        return LevelFilter::ERROR;
    }
    LevelFilter::from_str(value).unwrap_or(LevelFilter::INFO)
}

/// The filter: `level` for our crates, at most [`THIRD_PARTY_CAP`] for everyone else.
pub fn filter(level: LevelFilter) -> Targets {
    let capped = level.min(THIRD_PARTY_CAP);
    let mut targets = Targets::new().with_default(capped);
    for target in OUR_TARGETS {
        targets = targets.with_target(target, level);
    }
    for target in CAPPED_TARGETS {
        targets = targets.with_target(target, capped);
    }
    targets
}

/// A subscriber writing to `make_writer`; tests install it with
/// `tracing::subscriber::set_default` to capture what a handler logs.
pub fn subscriber<W>(make_writer: W, format: LogFormat, level: LevelFilter) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let registry = tracing_subscriber::registry().with(filter(level));
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(make_writer),
            ),
        ),
        LogFormat::Text => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(make_writer),
            ),
        ),
    }
}

/// Installs the subscriber (stdout, settings from the environment) and a panic hook
/// that logs panics at ERROR through it. Call once, first thing in `main`.
pub fn init() {
    let format = LogFormat::from_setting(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref());
    let level = level_from_settings(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    init_with_writer(io::stdout, format, level);
}

/// [`init`] with an explicit writer, format and level.
pub fn init_with_writer<W>(make_writer: W, format: LogFormat, level: LevelFilter)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    if tracing::subscriber::set_global_default(subscriber(make_writer, format, level)).is_err() {
        tracing::warn!("a tracing subscriber was already installed; keeping it");
        return;
    }
    // A panic is caught by the runtime wrapper and reported as InvalidInput; this hook
    // puts its location into the structured log instead of a bare stderr line.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic: {}", crate::runtime::panic_text(info.payload()));
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Level;

    use super::*;

    /// Collects everything written, for assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("utf-8 logs")
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// A macro, not a function: each test gets its own callsites, so tests running in
    /// parallel with different subscribers never share a callsite's cached interest.
    macro_rules! log_everything_everywhere {
        () => {{
            tracing::trace!(target: "check_catalog_status::http", "ours at trace");
            tracing::debug!(target: "hyper::proto", "hyper at debug: authorization: Bearer hunter2");
            tracing::trace!(target: "reqwest::connect", "reqwest at trace");
            tracing::debug!(target: "aws_smithy_runtime::client", "aws at debug");
            tracing::debug!(target: "tokio_postgres::connect", "postgres at debug");
            tracing::debug!(target: "lambda_runtime_api_client", "runtime client at debug");
            tracing::debug!(target: "lambda_runtime::runtime", "runtime at debug");
            tracing::warn!(target: "hyper::proto", "hyper at warn");
            tracing::info!(target: "update_catalog_db", "db at info");
        }};
    }

    #[test]
    fn third_party_crates_are_capped_at_warn_even_at_trace() {
        let captured = Captured::default();
        let subscriber = subscriber(captured.clone(), LogFormat::Text, LevelFilter::TRACE);
        tracing::subscriber::with_default(subscriber, || log_everything_everywhere!());
        let text = captured.text();
        for expected in ["ours at trace", "runtime at debug", "hyper at warn", "db at info"] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        for absent in [
            "hunter2",
            "reqwest at trace",
            "aws at debug",
            "postgres at debug",
            "runtime client at debug",
        ] {
            assert!(!text.contains(absent), "{absent:?} leaked into {text}");
        }
    }

    #[test]
    fn the_level_applies_to_our_crates() {
        let captured = Captured::default();
        let subscriber = subscriber(captured.clone(), LogFormat::Text, LevelFilter::ERROR);
        tracing::subscriber::with_default(subscriber, || log_everything_everywhere!());
        assert_eq!(captured.text(), "", "nothing at ERROR was logged");
        let filter = filter(LevelFilter::INFO);
        assert!(filter.would_enable("check_catalog_status", &Level::INFO));
        assert!(!filter.would_enable("check_catalog_status", &Level::DEBUG));
        assert!(filter.would_enable("hyper", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::INFO));
    }

    #[test]
    fn json_lines_carry_the_span_fields() {
        let captured = Captured::default();
        let subscriber = subscriber(captured.clone(), LogFormat::Json, LevelFilter::INFO);
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::info_span!(target: "check_catalog_status", "check", catalog_id = "a/b c'é", attempt = 3);
            let _entered = span.enter();
            tracing::info!(target: "check_catalog_status", outcome = "pending", "polled");
        });
        let text = captured.text();
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "polled");
        assert_eq!(line["fields"]["outcome"], "pending");
        assert_eq!(line["span"]["catalog_id"], "a/b c'é");
        assert_eq!(line["span"]["attempt"], 3);
        assert_eq!(line["spans"][0]["name"], "check");
    }

    #[test]
    fn settings() {
        assert_eq!(LogFormat::from_setting(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Text);
        assert_eq!(level_from_settings(Some("DEBUG"), Some("error")), LevelFilter::DEBUG);
        assert_eq!(level_from_settings(None, Some("trace")), LevelFilter::TRACE);
        assert_eq!(level_from_settings(None, None), LevelFilter::INFO);
        assert_eq!(level_from_settings(None, Some("hyper=trace")), LevelFilter::INFO);
        assert_eq!(level_from_settings(Some("FATAL"), None), LevelFilter::ERROR);
        assert_eq!(level_from_settings(Some("loud"), None), LevelFilter::INFO);
    }
}
