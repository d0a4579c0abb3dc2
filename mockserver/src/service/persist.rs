//! Writing and loading the data directory (see [`crate::storage`] for the layout).

use std::collections::BTreeSet;

use super::{Service, ServiceConfig};
use crate::catalog::Segment;
use crate::storage::{
    Disk, IdState, MANIFEST, MANIFEST_FORMAT, Manifest, StorageError, decode_segment,
    encode_segment, segment_file, segment_id,
};
use crate::time::MockTime;

impl Service {
    /// A service whose state lives on `disk`: loads the manifest and its segments if
    /// present, otherwise starts empty and writes a first manifest.
    pub fn with_disk(
        cfg: ServiceConfig,
        disk: Box<dyn Disk>,
        now: MockTime,
    ) -> Result<Self, StorageError> {
        let mut svc = Service::new(cfg, now);
        let Some(bytes) = disk.read(MANIFEST)? else {
            svc.disk = Some(disk);
            svc.persist()?;
            return Ok(svc);
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
            path: MANIFEST.into(),
            reason: e.to_string(),
        })?;
        if m.format != MANIFEST_FORMAT {
            return Err(StorageError::Corrupt {
                path: MANIFEST.into(),
                reason: format!("manifest format {} is not {MANIFEST_FORMAT}", m.format),
            });
        }
        svc.catalog = m.catalog;
        svc.sessions = m.sessions;
        svc.sweep_due = None;
        svc.ids = m.ids.rng;
        svc.instance_seq = m.ids.instances;
        svc.store.next_id = m.ids.last_segment;
        let mut wanted = svc.catalog.segment_ids();
        wanted.extend(svc.sessions.segment_ids());
        for id in &wanted {
            let name = segment_file(*id);
            let bytes = disk.read(&name)?.ok_or_else(|| StorageError::Corrupt {
                path: name.clone(),
                reason: "segment referenced by the manifest is missing".into(),
            })?;
            let (batch, columns) = decode_segment(bytes, &name)?;
            let bytes = batch.get_array_memory_size() as u64;
            svc.store.segments.insert(
                *id,
                Segment {
                    batch,
                    columns,
                    bytes,
                    persisted: true,
                },
            );
            svc.store.next_id = svc.store.next_id.max(*id);
        }
        svc.disk = Some(disk);
        // Remove leftovers of an interrupted commit (files no manifest references).
        svc.remove_unreferenced_files(&wanted)?;
        svc.create_configured_projects(now);
        svc.persist()?;
        Ok(svc)
    }

    fn remove_unreferenced_files(&mut self, keep: &BTreeSet<u64>) -> Result<(), StorageError> {
        let Some(disk) = self.disk.as_mut() else {
            return Ok(());
        };
        for f in disk.list("segments")? {
            match segment_id(&f) {
                Some(id) if keep.contains(&id) => {}
                _ => disk.remove(&format!("segments/{f}"))?,
            }
        }
        Ok(())
    }

    /// The manifest of the current state.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            saved_ms: self.now.epoch_ms(),
            catalog: self.catalog.clone(),
            sessions: self.sessions.clone(),
            ids: IdState {
                rng: self.ids.clone(),
                last_segment: self.store.next_id,
                instances: self.instance_seq,
            },
        }
    }

    /// Drops unreferenced segments and, with a disk, writes new segment files, then the
    /// manifest (the commit point), then deletes files of dropped segments.
    pub(crate) fn persist(&mut self) -> Result<(), StorageError> {
        let gone = if std::mem::take(&mut self.gc_needed) {
            let mut keep = self.catalog.segment_ids();
            keep.extend(self.sessions.segment_ids());
            self.store.retain(&keep)
        } else {
            Vec::new()
        };
        if self.disk.is_none() {
            return Ok(());
        }
        let manifest =
            serde_json::to_vec_pretty(&self.manifest()).map_err(|e| StorageError::Corrupt {
                path: MANIFEST.into(),
                reason: e.to_string(),
            })?;
        let Some(disk) = self.disk.as_mut() else {
            return Ok(());
        };
        for (id, seg) in self.store.segments.iter_mut() {
            if !seg.persisted {
                let bytes = encode_segment(&seg.batch, &seg.columns, *id)?;
                disk.write_atomic(&segment_file(*id), &bytes)?;
                seg.persisted = true;
            }
        }
        disk.write_atomic(MANIFEST, &manifest)?;
        for id in gone {
            disk.remove(&segment_file(id))?;
        }
        Ok(())
    }
}
