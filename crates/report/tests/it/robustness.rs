//! Parsing never panics: arbitrary bytes, JSON-like noise, and every truncation and byte flip of
//! a real report. Whatever parses also round-trips.

use gitops_report::{Error, SAMPLE_LEGACY_ARRAY, SAMPLE_REPORT, parse, validate};
use proptest::prelude::*;

/// Checks what any successful parse must satisfy: validation runs, and writing it back reads back equal.
fn check_parsed(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(parsed) = parse(bytes) {
        let _ = validate(&parsed.report);
        let again = parse(&parsed.report.to_json_bytes()).unwrap();
        prop_assert_eq!(again.report, parsed.report);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_parsed(&bytes)?;
    }

    #[test]
    fn json_like_noise_never_panics(text in r#"[\[\]{}",:0-9a-z \n.eE+\-\\]{0,300}"#) {
        check_parsed(text.as_bytes())?;
    }

    #[test]
    fn report_like_noise_never_panics(
        parts in prop::collection::vec(prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"repos\""),
            Just("\"name\""), Just("\"status\""), Just("\"path\""), Just("\"summary\""), Just("\"x\""),
            Just("\"uncommittedChanges\""), Just("null"), Just("true"), Just("1"), Just("-0.5e3"),
            Just("\"clean\""), Just("\"a/b\""), Just(" "),
        ], 0..60)
    ) {
        check_parsed(parts.concat().as_bytes())?;
    }

    #[test]
    fn flipped_bytes_in_a_real_report_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let mut bytes = SAMPLE_REPORT.as_bytes().to_vec();
        for (index, byte) in flips {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        check_parsed(&bytes)?;
    }

    #[test]
    fn spliced_reports_never_panic(cut in any::<prop::sample::Index>(), from in any::<prop::sample::Index>()) {
        // Half of one report followed by the tail of another: what a torn write looks like.
        let head = SAMPLE_REPORT.as_bytes();
        let tail = SAMPLE_LEGACY_ARRAY.as_bytes();
        let mut bytes = head[..cut.index(head.len())].to_vec();
        bytes.extend_from_slice(&tail[from.index(tail.len())..]);
        check_parsed(&bytes)?;
    }
}

#[test]
fn every_truncation_of_the_sample_is_an_error_with_a_position() {
    let bytes = SAMPLE_REPORT.as_bytes();
    let end = bytes.iter().rposition(|&byte| byte == b'}').unwrap() + 1;
    let repos_start = SAMPLE_REPORT.find("\"repos\": [").unwrap() + "\"repos\": [".len();
    let repos_end = SAMPLE_REPORT.find("\"mitigation_actions\"").unwrap();
    for cut in 0..end {
        match parse(&bytes[..cut]) {
            Ok(_) => panic!("a report cut at byte {cut} of {end} parsed"),
            Err(Error::Empty) => assert_eq!(cut, 0),
            Err(error) => {
                assert!(error.position().is_some(), "cut at {cut}: {error}");
                // Cut inside the repository list, the error names the repository being read.
                if cut > repos_start + 4 && cut < repos_end - 10 {
                    assert!(error.repo().is_some(), "cut at {cut}: {error}");
                }
            }
        }
    }
    assert!(parse(&bytes[..end]).is_ok());
}

#[test]
fn every_truncation_of_the_legacy_sample_is_an_error() {
    let bytes = SAMPLE_LEGACY_ARRAY.as_bytes();
    let end = bytes.iter().rposition(|&byte| byte == b']').unwrap() + 1;
    for cut in 1..end {
        let error = parse(&bytes[..cut]).unwrap_err();
        assert!(error.position().is_some(), "cut at {cut}: {error}");
    }
}
