//! The contract is a public API: every released `stagewright:action` version is frozen under
//! wit/releases/VERSION, each release is a semver-compatible extension of the one before it,
//! and the working contract (wit/action.wit) one of the last release, checked by wit-component's
//! semver check (a component of the older world must validate against the newer one).

use std::path::{Path, PathBuf};

use wit_parser::{Resolve, WorldId};

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// The frozen releases, oldest first.
fn releases() -> Vec<(semver::Version, PathBuf)> {
    let mut releases: Vec<_> = std::fs::read_dir(wit_dir().join("releases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|dir| {
            let version = semver::Version::parse(dir.file_name().unwrap().to_str().unwrap()).unwrap();
            (version, dir.join("action.wit"))
        })
        .collect();
    releases.sort();
    releases
}

/// The `action` world of a contract text, added to `resolve` under the version `as_version`.
fn world(resolve: &mut Resolve, file: &Path, as_version: &semver::Version) -> WorldId {
    let text = std::fs::read_to_string(file).unwrap();
    let declared = text
        .lines()
        .find_map(|line| line.strip_prefix("package stagewright:action@"))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .unwrap_or_else(|| panic!("{} declares no stagewright:action version", file.display()));
    let text = text.replace(&format!("@{declared};"), &format!("@{as_version};"));
    let package = resolve.push_str(file, &text).unwrap();
    resolve.select_world(&[package], Some("action")).unwrap()
}

fn assert_compatible(older: (&semver::Version, &Path), newer: (&semver::Version, &Path)) {
    let mut resolve = Resolve::default();
    let old = world(&mut resolve, older.1, older.0);
    let new = world(&mut resolve, newer.1, newer.0);
    if let Err(e) = wit_component::semver_check(resolve, old, new) {
        panic!(
            "{} does not extend {} compatibly: {e:#}",
            newer.1.display(),
            older.1.display()
        );
    }
}

#[test]
fn every_release_is_frozen_and_extends_the_one_before() {
    let releases = releases();
    let versions: Vec<String> = releases.iter().map(|(v, _)| v.to_string()).collect();
    assert_eq!(versions, ["0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.1.4", "0.1.5"]);
    for pair in releases.windows(2) {
        let ((old_version, old), (new_version, new)) = (&pair[0], &pair[1]);
        assert_compatible((old_version, old), (new_version, new));
    }
}

#[test]
fn the_working_contract_extends_the_last_release() {
    let (last_version, last) = releases().pop().unwrap();
    let working = wit_dir().join("action.wit");
    let mut next = last_version.clone();
    next.pre = semver::Prerelease::new("working").unwrap();
    assert_compatible((&last_version, &last), (&next, &working));
}

#[test]
fn a_breaking_change_is_caught() {
    let (last_version, last) = releases().pop().unwrap();
    let broken = tempfile::tempdir().unwrap();
    let file = broken.path().join("action.wit");
    let text = std::fs::read_to_string(&last).unwrap();
    std::fs::write(&file, text.replace("attempt: u32,", "attempt: u64,")).unwrap();
    let mut resolve = Resolve::default();
    let old = world(&mut resolve, &last, &last_version);
    let new = world(&mut resolve, &file, &semver::Version::new(0, 1, 99));
    assert!(
        wit_component::semver_check(resolve, old, new).is_err(),
        "a changed record field must not pass"
    );
}

#[test]
fn the_sdk_is_versioned_with_the_contract_it_wraps() {
    let wit = std::fs::read_to_string(wit_dir().join("action.wit")).unwrap();
    let contract = wit
        .lines()
        .find_map(|line| line.strip_prefix("package stagewright:action@"))
        .map(|rest| rest.trim_end_matches(';'))
        .unwrap();
    let sdk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/Cargo.toml")).unwrap();
    let version = sdk
        .lines()
        .find_map(|line| line.strip_prefix("version = "))
        .map(|v| v.trim_matches('"'))
        .unwrap();
    assert_eq!(version, contract);
}
