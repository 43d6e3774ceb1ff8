use serde::{Deserialize, Serialize};

/// Where a component keeps its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// In RAM; lost when the host restarts.
    Memory,
    /// In a file on local disk, synced before a write is acknowledged.
    Persistent,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Memory => "memory",
            ObjectKind::Persistent => "persistent",
        }
    }
}

/// State of one component (one host's copy of an object), as the directory
/// records it. Only ACTIVE components receive writes and serve reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentState {
    /// Holds every acknowledged write; receives every new one.
    Active,
    /// May have missed writes (for example its host restarted and lost RAM).
    Stale,
    /// Its host stopped answering; the owner stopped sending to it.
    Absent,
    /// Being rebuilt from an ACTIVE component.
    Resyncing,
}

impl ComponentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentState::Active => "active",
            ComponentState::Stale => "stale",
            ComponentState::Absent => "absent",
            ComponentState::Resyncing => "resyncing",
        }
    }
}

/// Health of an object, derived from its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectState {
    /// Every component is ACTIVE.
    Healthy,
    /// At least one component is ACTIVE, but not all.
    Degraded,
    /// No component holds the object's bytes any more. I/O fails; the object
    /// is never recreated empty.
    Lost,
}

impl ObjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectState::Healthy => "healthy",
            ObjectState::Degraded => "degraded",
            ObjectState::Lost => "lost",
        }
    }
}
