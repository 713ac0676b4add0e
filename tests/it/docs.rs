//! Documentation that must stay true to the code.

use crate::support::repo;

#[test]
fn every_configuration_key_is_documented() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).expect("docs/configuration.md");
    let missing: Vec<String> = kafka_self_healing::config::all_key_paths()
        .into_iter()
        .filter(|path| !doc.contains(&format!("`{path}`")))
        .collect();
    assert!(missing.is_empty(), "docs/configuration.md does not document: {missing:#?}");
}
