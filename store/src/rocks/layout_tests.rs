//! The layout marker: layout 1 (JSON payloads only) is read and stamped 2 when opened
//! for writing; a layout this build does not know is refused.

use tempfile::TempDir;

use super::codec::{CF_META, LAYOUT_VERSION, META_LAYOUT_KEY};
use super::{StoreOptions, check_layout, has_layout_marker, prepare, read};
use crate::error::StoreError;

fn marker(db: &rocksdb::DB) -> Option<Vec<u8>> {
    let meta = read::cf(db, CF_META).expect("meta");
    db.get_cf(meta, META_LAYOUT_KEY).expect("reads")
}

fn stamp(db: &rocksdb::DB, version: u8) {
    let meta = read::cf(db, CF_META).expect("meta");
    db.put_cf(meta, META_LAYOUT_KEY, [version]).expect("writes");
}

#[test]
fn a_new_store_is_stamped_with_this_layout() {
    let dir = TempDir::new().expect("temp dir");
    let (shared, _writer, _tx) = prepare(dir.path(), &StoreOptions::default()).expect("open");
    assert_eq!(LAYOUT_VERSION, 2);
    assert_eq!(marker(&shared.db), Some(vec![LAYOUT_VERSION]));
}

#[test]
fn layout_one_is_read_and_stamped_two_when_opened_for_writing() {
    let dir = TempDir::new().expect("temp dir");
    let (shared, _writer, _tx) = prepare(dir.path(), &StoreOptions::default()).expect("open");
    stamp(&shared.db, 1);
    assert!(has_layout_marker(&shared.db).expect("layout 1 is readable"));
    check_layout(&shared.db).expect("layout 1 is accepted");
    assert_eq!(marker(&shared.db), Some(vec![2]));
}

#[test]
fn an_unknown_layout_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let (shared, _writer, _tx) = prepare(dir.path(), &StoreOptions::default()).expect("open");
    for version in [0, 3, 9] {
        stamp(&shared.db, version);
        assert!(matches!(
            has_layout_marker(&shared.db),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            check_layout(&shared.db),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(marker(&shared.db), Some(vec![version]), "left as it was");
    }
}
