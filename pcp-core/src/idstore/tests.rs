//! Tests of the persistent id store.

use super::*;

#[test]
fn restart_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = StateDir::open(dir.path()).unwrap();
        let (mut c, w) = state.cache("clusters", 0, 4095).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.assign("alpha").unwrap(), 0);
        assert_eq!(c.assign("beta \"quoted\"\nline").unwrap(), 1);
        assert_eq!(c.assign("alpha").unwrap(), 0);
        c.save().unwrap();
    }
    let state = StateDir::open(dir.path()).unwrap();
    let (mut c, w) = state.cache("clusters", 0, 4095).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.lookup("beta \"quoted\"\nline"), Some(1));
    assert_eq!(c.assign("gamma").unwrap(), 2);
}

#[test]
fn concurrent_writers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = StateDir::open(dir.path()).unwrap();
    let second = StateDir::open(dir.path());
    match second {
        Err(StoreError::Locked { holder, .. }) => {
            assert!(holder.contains(&std::process::id().to_string()))
        }
        other => panic!("expected a lock error, got {other:?}"),
    }
}

#[test]
fn truncated_file_is_recovered_without_reusing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let (mut c, _) = state.cache("items.0", 0, 1023).unwrap();
    for n in ["a", "b", "c", "d"] {
        c.assign(n).unwrap();
    }
    c.save().unwrap();
    let file = dir.path().join("items.0.ids");
    let text = fs::read_to_string(&file).unwrap();
    // Cut the file in the middle of the entry for "c".
    let cut = text.find("2 \"c\"").unwrap() + 3;
    fs::write(&file, &text[..cut]).unwrap();
    let (mut c, warnings) = state.cache("items.0", 0, 1023).unwrap();
    assert!(!warnings.is_empty());
    assert_eq!(c.lookup("a"), Some(0));
    assert_eq!(c.lookup("b"), Some(1));
    assert_eq!(c.lookup("c"), None);
    // "c" and "d" lost their entries, but their ids are never reused.
    let e = c.assign("e").unwrap();
    assert!(e >= 4, "id {e} reused");
    assert!(dir.path().join("items.0.ids.corrupt").exists());
    // The rewritten file loads cleanly.
    let (_, w) = state.cache("items.0", 0, 1023).unwrap();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn garbage_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x.ids"), b"\x00\xffgarbage\n1 2 3").unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let (mut c, w) = state.cache("x", 0, 10).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(c.assign("n").unwrap(), 0);
}

#[test]
fn full_range_names_the_limit() {
    let mut c = IdCache::in_memory("tiny", 0, 1);
    c.assign("a").unwrap();
    c.assign("b").unwrap();
    let e = c.assign("c").unwrap_err();
    assert!(e.to_string().contains("limit is 2"), "{e}");
}

#[test]
fn bad_cache_names() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    assert!(state.cache("../x", 0, 1).is_err());
    assert!(state.cache("", 0, 1).is_err());
}

/// pmdaopenmetrics's own table files: what Python wrote is read with
/// its ids (positions) and flag, new names extend it, and the file
/// written back reads the same in Python's format.
#[test]
fn python_tables_are_shared_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("144.5121.py");
    // pickle.dump(["a:1", "b:2"], f, 0); pickle.dump(True, f, 0)
    fs::write(&file, b"(lp0\nVa:1\np1\naVb:2\np2\na.I01\n.").unwrap();
    let (mut c, w) =
        IdCache::open_file(&file, "insts.1.1", 0, 100, FileFormat::PythonTable).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!((c.lookup("a:1"), c.lookup("b:2")), (Some(0), Some(1)));
    assert!(c.flag());
    assert_eq!(c.assign("c:3").unwrap(), 2);
    c.save().unwrap();
    let (names, flag) = crate::pytable::decode(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(names, ["a:1", "b:2", "c:3"]);
    assert_eq!(flag, Some(true));
    // A table that is not one is kept aside and rebuilt.
    fs::write(&file, b"\x80\x04junk").unwrap();
    let (c, w) = IdCache::open_file(&file, "insts.1.1", 0, 100, FileFormat::PythonTable).unwrap();
    assert_eq!((c.len(), w.len()), (0, 1));
    assert!(dir.path().join("144.5121.py.corrupt").exists());
}

#[test]
fn seeding_takes_ids_flag_and_high_water_mark() {
    let mut theirs = IdCache::in_memory("clusters", 0, 4095);
    for n in ["control", "beta", "alpha"] {
        theirs.assign(n).unwrap();
    }
    theirs.set_flag(true);
    let mut ours = IdCache::in_memory("clusters", 0, 4095);
    assert!(ours.seed_from(&theirs));
    assert_eq!(ours.lookup("alpha"), Some(2));
    assert!(ours.flag() && ours.is_dirty());
    assert_eq!(ours.assign("gamma").unwrap(), 3);
    assert!(!ours.seed_from(&theirs), "only an empty cache is seeded");
    let mut named = IdCache::in_memory("n", 100, 200);
    assert_eq!(named.assign_id("x", 150).unwrap(), 150);
    assert_eq!(
        named.assign_id("x", 120).unwrap(),
        150,
        "a name keeps its id"
    );
    assert!(
        named.assign_id("y", 150).is_err(),
        "an id held by another name"
    );
    assert!(named.assign_id("y", 99).is_err(), "out of range");
    assert!(named.holds(150) && !named.holds(120));
}
