//! Replays the kept fuzzing corpus (`fuzz/corpus/<target>/`) through the fuzz targets' entry
//! points: every input the fuzzer ever kept, crashes included once fixed, stays a test.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries.flatten() {
        let data = std::fs::read(entry.path()).expect("corpus file");
        run(&data);
        count += 1;
    }
    assert!(count > 0, "the {target} corpus is empty");
}

#[test]
fn envelope_corpus() {
    replay("envelope", zato_common::fuzzing::envelope);
}

#[test]
fn settings_corpus() {
    replay("settings", zato_common::fuzzing::settings);
}

#[test]
fn url_path_corpus() {
    replay("url_path", zato_common::fuzzing::url_path);
}

#[test]
fn cron_corpus() {
    replay("cron", zato_common::fuzzing::cron);
}
