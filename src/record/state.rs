//! `state.json`: the shell state after the last passed step, for `--resume`,
//! kept in step with `run.json` although they are two files.
//!
//! Each state written gets the next sequence number, and `run.json` names the
//! one it goes with (`state_seq`). The state file is written first and holds
//! the new state together with the one the record on disk names; the record
//! follows. A crash between the two renames leaves a record naming the
//! previous state, which the file still holds: whatever the moment, the
//! record and the state describe the same point of the run.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exec::ShellState;

/// A saved state and its sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Generation {
    pub(super) seq: u64,
    pub(super) state: ShellState,
}

/// What `state.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateFile {
    #[serde(flatten)]
    pub(super) current: Generation,
    /// The state the record on disk named when this file was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) previous: Option<Generation>,
}

/// `state.json` as runsheet wrote it before sequence numbers (a bare state).
#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    Current(StateFile),
    Legacy(ShellState),
}

/// The saved state of a run cannot be used (`--resume` refuses: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{} is not a shell state runsheet wrote: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error(
        "{} is missing, though the record of its run says a shell state was saved",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{} holds the shell state of another point of the run than its record \
         (state {found}, the record names {wanted})",
        path.display()
    )]
    Mismatch {
        path: PathBuf,
        found: u64,
        wanted: u64,
    },
}

/// The state of `state.json` at `path` that goes with a record naming `seq`
/// (0: no state was saved; the run starts afresh).
pub(super) fn read(path: &Path, seq: u64) -> Result<Option<ShellState>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound && seq == 0 => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(StateError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let file = serde_json::from_slice::<OnDisk>(&bytes).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let file = match file {
        // Written before records named their state: the two were saved
        // together and are taken as they are.
        OnDisk::Legacy(state) => return Ok(Some(state)),
        OnDisk::Current(file) => file,
    };
    if seq == 0 {
        return Ok(None);
    }
    [Some(file.current.clone()), file.previous]
        .into_iter()
        .flatten()
        .find(|g| g.seq == seq)
        .map(|g| Some(g.state))
        .ok_or(StateError::Mismatch {
            path: path.to_path_buf(),
            found: file.current.seq,
            wanted: seq,
        })
}
