//! Fuzz target: parsing any bytes never panics, and whatever parses writes back to an equal report.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(parsed) = gitops_report::parse(bytes) {
        let _ = gitops_report::validate(&parsed.report);
        let again = gitops_report::parse(&parsed.report.to_json_bytes())
            .expect("a written report parses");
        assert_eq!(again.report, parsed.report);
    }
});
