//! [`Views`]: the views database, its generations, its checkpoint and read-your-writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rocksdb::{BoundColumnFamily, DBWithThreadMode, MultiThreaded, Options, WriteBatch};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{ProjectionError, Result};
use crate::layout::{
    self, CF_META, CHECKPOINT_KEY, META_ACTIVE, META_NEXT, PROJECTION_VERSIONS, View,
};

pub(crate) type Db = DBWithThreadMode<MultiThreaded>;

/// What `meta` records about a generation: the projection versions that built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GenerationInfo {
    pub versions: Vec<(String, u32)>,
}

impl GenerationInfo {
    pub fn current() -> Self {
        GenerationInfo {
            versions: PROJECTION_VERSIONS
                .iter()
                .map(|(name, version)| ((*name).to_owned(), *version))
                .collect(),
        }
    }
}

/// One complete set of views (a column family per view plus a checkpoint).
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    pub id: u64,
    pub info: GenerationInfo,
}

impl Generation {
    /// Built by this code's projection versions: the projector may keep applying to it.
    pub fn is_current(&self) -> bool {
        self.info == GenerationInfo::current()
    }
}

/// The views database: every projection's view, queryable, following the log.
///
/// Cheap to clone (an `Arc`); share one per process. Queries (see the `query` module)
/// read the *active* generation; [`crate::Projector`] keeps it up to date and
/// [`crate::rebuild`] replaces it.
#[derive(Clone)]
pub struct Views {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub db: Db,
    pub path: PathBuf,
    pub active: RwLock<Arc<Generation>>,
    /// The active generation's checkpoint, published after each committed batch.
    pub position: watch::Sender<u64>,
    /// Held by whoever writes views (the projector per batch, a rebuild for its final
    /// catch-up and swap), so that a swap never races an apply.
    pub write_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("path", &self.inner.path)
            .field("generation", &self.generation_id())
            .field("position", &self.position())
            .finish()
    }
}

impl Views {
    /// Opens (or creates) the views database at `path` (normally `<data_dir>/views`).
    ///
    /// Column families of generations other than the active one are leftovers of a
    /// rebuild that did not finish (a crash, or a verify that found differences); they
    /// are dropped here. Blocking: call at start-up or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Views> {
        let path = path.as_ref().to_path_buf();
        let mut options = view_options();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_keep_log_file_num(5);
        let mut names: BTreeSet<String> = match Db::list_cf(&options, &path) {
            Ok(names) => names.into_iter().collect(),
            // A directory without a database yet.
            Err(_) => BTreeSet::new(),
        };
        names.insert("default".to_owned());
        names.insert(CF_META.to_owned());
        let db = Db::open_cf(&options, &path, names.iter())?;

        let active = match read_u64(&db, META_ACTIVE)? {
            Some(id) => Generation {
                id,
                info: read_info(&db, id)?,
            },
            None => {
                let generation = create_generation(&db)?;
                set_active(&db, generation.id)?;
                generation
            }
        };
        for name in &names {
            if layout::generation_of(name).is_some_and(|g| g != active.id) {
                db.drop_cf(name)?;
            }
        }
        for view in View::ALL {
            if db.cf_handle(&layout::cf_name(active.id, view)).is_none() {
                return Err(ProjectionError::Corrupt(format!(
                    "generation {} lacks its {} column family",
                    active.id,
                    view.name()
                )));
            }
        }
        let position = checkpoint(&db, &active)?;
        let (position, _) = watch::channel(position);
        tracing::info!(path = %path.display(), generation = active.id, position = *position.borrow(), "views opened");
        Ok(Views {
            inner: Arc::new(Inner {
                db,
                path,
                active: RwLock::new(Arc::new(active)),
                position,
                write_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The log position every view of the active generation has applied (0: none).
    pub fn position(&self) -> u64 {
        *self.inner.position.borrow()
    }

    /// Read-your-writes: waits until the views have applied `position` (the
    /// `last_position` of the append a command made), at most `timeout`. Returns whether
    /// they did. Never blocks a thread: it awaits the projector's checkpoint channel.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.inner.position.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await,
            Ok(Ok(_))
        )
    }

    /// Whether the active generation was built by this code's projection versions. If
    /// not, the projector rebuilds in the background (see the crate docs).
    pub fn is_current(&self) -> bool {
        self.active().is_current()
    }

    /// The id of the generation queries read.
    pub fn generation_id(&self) -> u64 {
        self.active().id
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn active(&self) -> Arc<Generation> {
        match self.inner.active.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn cf(&self, generation: u64, view: View) -> Result<Arc<BoundColumnFamily<'_>>> {
        cf(&self.inner.db, generation, view)
    }

    /// A new, empty generation (not active). Its column families exist from now on.
    pub(crate) fn create_generation(&self) -> Result<Generation> {
        create_generation(&self.inner.db)
    }

    /// The checkpoint of a generation.
    pub(crate) fn checkpoint_of(&self, generation: &Generation) -> Result<u64> {
        checkpoint(&self.inner.db, generation)
    }

    /// Makes `generation` the one queries read and drops the previous one. The caller
    /// holds the write lock and has brought `generation` at least as far as the active
    /// one, so the published position never goes backwards.
    pub(crate) fn activate(&self, generation: Generation) -> Result<()> {
        let position = self.checkpoint_of(&generation)?;
        set_active(&self.inner.db, generation.id)?;
        let old = {
            let mut guard = match self.inner.active.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::replace(&mut *guard, Arc::new(generation))
        };
        self.inner.position.send_replace(position);
        self.drop_generation(old.id)
    }

    /// Drops every column family of a generation (not the active one).
    pub(crate) fn drop_generation(&self, id: u64) -> Result<()> {
        if id == self.generation_id() {
            return Ok(());
        }
        for view in View::ALL {
            let name = layout::cf_name(id, view);
            if self.inner.db.cf_handle(&name).is_some() {
                self.inner.db.drop_cf(&name)?;
            }
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(&meta(&self.inner.db)?, layout::generation_key(id));
        self.inner.db.write(batch)?;
        Ok(())
    }

    /// Publishes a new checkpoint of the active generation to `wait_for` callers.
    pub(crate) fn publish(&self, generation: u64, position: u64) {
        if generation == self.generation_id() {
            self.inner.position.send_if_modified(|current| {
                let advanced = position > *current;
                if advanced {
                    *current = position;
                }
                advanced
            });
        }
    }
}

pub(crate) fn cf(db: &Db, generation: u64, view: View) -> Result<Arc<BoundColumnFamily<'_>>> {
    let name = layout::cf_name(generation, view);
    db.cf_handle(&name)
        .ok_or_else(|| ProjectionError::Corrupt(format!("column family {name} is missing")))
}

fn meta(db: &Db) -> Result<Arc<BoundColumnFamily<'_>>> {
    db.cf_handle(CF_META)
        .ok_or_else(|| ProjectionError::Corrupt("the meta column family is missing".into()))
}

fn read_u64(db: &Db, key: &[u8]) -> Result<Option<u64>> {
    match db.get_pinned_cf(&meta(db)?, key)? {
        Some(bytes) => Ok(Some(layout::decode_u64(&bytes, "meta")?)),
        None => Ok(None),
    }
}

fn read_info(db: &Db, id: u64) -> Result<GenerationInfo> {
    let bytes = db
        .get_pinned_cf(&meta(db)?, layout::generation_key(id))?
        .ok_or_else(|| ProjectionError::Corrupt(format!("generation {id} is not described")))?;
    layout::decode(&bytes, "generation info")
}

/// Options of the views database and of each view's column family: memtables and
/// blocks within the process's one RocksDB memory budget, shared with the log.
fn view_options() -> Options {
    let memory = paylog_store::rocks::memory::shared();
    let mut options = Options::default();
    memory.apply_to_db(&mut options);
    options.set_block_based_table_factory(&memory.table_options());
    options
}

fn set_active(db: &Db, id: u64) -> Result<()> {
    let mut options = rocksdb::WriteOptions::default();
    options.set_sync(true);
    db.put_cf_opt(&meta(db)?, META_ACTIVE, layout::u64_value(id), &options)?;
    Ok(())
}

fn create_generation(db: &Db) -> Result<Generation> {
    let id = read_u64(db, META_NEXT)?.unwrap_or(1);
    let info = GenerationInfo::current();
    for view in View::ALL {
        db.create_cf(layout::cf_name(id, view), &view_options())?;
    }
    let mut batch = WriteBatch::default();
    let meta = meta(db)?;
    batch.put_cf(&meta, META_NEXT, layout::u64_value(id + 1));
    batch.put_cf(&meta, layout::generation_key(id), layout::encode(&info)?);
    batch.put_cf(
        &cf(db, id, View::Checkpoint)?,
        CHECKPOINT_KEY,
        layout::u64_value(0),
    );
    db.write(batch)?;
    Ok(Generation { id, info })
}

fn checkpoint(db: &Db, generation: &Generation) -> Result<u64> {
    match db.get_pinned_cf(&cf(db, generation.id, View::Checkpoint)?, CHECKPOINT_KEY)? {
        Some(bytes) => layout::decode_u64(&bytes, "checkpoint"),
        None => Ok(0),
    }
}
