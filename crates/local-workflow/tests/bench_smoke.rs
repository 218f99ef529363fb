//! The `make bench` code path with few iterations: every figure is measured, the cost
//! model and the targets are worked out and printed. Asserts structure, not speed (speed
//! targets live in `make bench`, not in timed tests).

use std::sync::Arc;
use std::time::Duration;

use local_workflow::demo_support::bench::{self, BenchOptions};

#[test]
fn the_bench_measures_every_figure_and_prints_the_report() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = BenchOptions {
        invocations: 20,
        cold_starts: 2,
    };
    let report = runtime
        .block_on(bench::run(&options, Arc::new(|line: &str| eprintln!("bench: {line}"))))
        .expect("the bench measured");
    let functions = [&report.floor, &report.check, &report.update];
    assert_eq!(
        functions.map(|f| f.name.as_str()),
        ["echo-floor", "check-catalog-status", "update-catalog-db"]
    );
    for f in functions {
        assert!(f.init > Duration::ZERO, "{f:?}");
        assert!(f.first_invocation > Duration::ZERO, "{f:?}");
        assert_eq!(f.warm.samples, 20, "{f:?}");
        assert!(f.warm.p50 > Duration::ZERO && f.warm.p50 <= f.warm.p99, "{f:?}");
        assert!(f.peak_rss_kib > 0, "{f:?}");
        assert!(f.zip_bytes > 0, "{f:?}");
        assert_eq!(f.memory_mb, 128, "template.yaml's MemorySize");
    }
    assert_eq!(report.api_own.samples, 20);
    assert_eq!(report.db_own.samples, 20);
    assert_eq!(report.transitions_per_poll, [3, 3, 3]);
    assert_eq!(
        report.final_transitions, 3,
        "CheckCatalogStatus, IsCatalogReady, UpdateCatalogInDB"
    );
    let transitions: Vec<(u32, usize)> = report.costs.iter().map(|c| (c.polls, c.transitions)).collect();
    assert_eq!(transitions, [(10, 30), (80, 240), (150, 450)]);
    assert_eq!(report.targets.len(), 7);
    let text = report.render();
    assert!(text.contains("checked 2026-12-04"), "{text}");
    let verdicts = text
        .lines()
        .filter(|l| l.starts_with("  PASS ") || l.starts_with("  FAIL "))
        .count();
    assert_eq!(verdicts, 7, "{text}");
    assert!(text.contains("PASS state transitions per not-ready poll"), "{text}");
}
