//! The Autobahn WebSocket suite (via the `kosoku` Python package) against the echo route, which
//! shares `/ws`'s handshake code and limits. Expected results are checked in beside this file.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn autobahn_suite_passes_except_messages_over_the_limit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let address = listener.local_addr().expect("address");
    let limits = gitops_transport::WsLimits::default();
    runtime.spawn(gitops_transport::serve_echo(listener, limits));

    let reports = tempfile::tempdir().expect("temp dir");
    let output = Command::new("kosoku")
        .args(["-p", "2", "-x", "12.*", "-x", "13.*", "-o"])
        .arg(reports.path())
        .arg(address.to_string())
        .output()
        .expect("kosoku is installed (pip install kosoku; .ci/run does it)");
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(reports.path().join("index.json")).expect("kosoku wrote index.json"),
    )
    .expect("json");
    let cases = index
        .as_object()
        .and_then(|agents| agents.values().next())
        .and_then(|c| c.as_object())
        .expect("one agent");

    let expected: serde_json::Value =
        serde_json::from_str(include_str!("../autobahn-expected.json"))
            .expect("the expected results parse");
    let expected_failures: BTreeSet<&str> = expected["expected_failures"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        cases.len() > 250,
        "the suite ran ({} cases):\n{}",
        cases.len(),
        String::from_utf8_lossy(&output.stdout)
    );

    let mut unexpected = Vec::new();
    for (id, result) in cases {
        let behavior = result["behavior"].as_str().unwrap_or("?");
        let close = result["behaviorClose"].as_str().unwrap_or("?");
        let passed = matches!(behavior, "OK" | "NON-STRICT" | "INFORMATIONAL")
            && matches!(close, "OK" | "INFORMATIONAL");
        let expected_to_fail = expected_failures.contains(id.as_str());
        if passed == expected_to_fail {
            unexpected.push(format!(
                "{id}: {behavior}/{close} (expected {})",
                if expected_to_fail { "a failure" } else { "a pass" }
            ));
        }
    }
    assert!(
        unexpected.is_empty(),
        "cases that differ from autobahn-expected.json:\n{}",
        unexpected.join("\n")
    );
    runtime.shutdown_background();
}
