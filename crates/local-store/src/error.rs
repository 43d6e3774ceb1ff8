use holdfast_types::{Epoch, ErrorCode, HoldfastError, ObjectId, Seq};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("I/O at offset {offset} length {length} is not aligned to {align} bytes")]
    Misaligned { offset: u64, length: u64, align: u64 },
    #[error("I/O at offset {offset} length {length} is beyond the object's {size} bytes (or over the {max} byte I/O limit)")]
    OutOfRange { offset: u64, length: u64, size: u64, max: u64 },
    #[error("object {object}: command epoch {got} is older than the component's epoch {known}")]
    StaleEpoch { object: ObjectId, known: Epoch, got: Epoch },
    #[error("object {object}: write seq {got} at epoch {epoch} does not follow {expected_after}; this component missed a write")]
    SeqGap { object: ObjectId, epoch: Epoch, expected_after: Seq, got: Seq },
    #[error("memory budget: {used} of {max} bytes in use, {want} more do not fit")]
    MemoryBudget { used: u64, max: u64, want: u64 },
    #[error("component of object {0} already exists on this node")]
    Exists(ObjectId),
    #[error("no component of object {0} on this node")]
    NoComponent(ObjectId),
    #[error("component file {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("component of object {object} failed ({reason}) and refuses everything until it is rebuilt")]
    Failed { object: ObjectId, reason: String },
    #[error("local {what} failed: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io { what: what.into(), source }
    }

    pub fn to_holdfast(&self) -> HoldfastError {
        let code = match self {
            StoreError::Misaligned { .. } => ErrorCode::Misaligned,
            StoreError::OutOfRange { .. } => ErrorCode::OutOfRange,
            StoreError::StaleEpoch { .. } => ErrorCode::StaleEpoch,
            StoreError::SeqGap { .. } => ErrorCode::NoComponent,
            StoreError::MemoryBudget { .. } => ErrorCode::MemoryBudget,
            StoreError::Exists(_) => ErrorCode::Exists,
            StoreError::NoComponent(_) => ErrorCode::NoComponent,
            StoreError::Corrupt { .. } | StoreError::Io { .. } | StoreError::Failed { .. } => ErrorCode::Io,
        };
        HoldfastError::new(code, self.to_string())
    }
}
