//! Run records and where they are kept: the record type ([`record`]), the
//! environment fingerprint ([`env`]) and the JSONL store ([`store`]).

pub mod artifacts;
pub mod env;
pub mod merge;
pub mod probes;
pub mod record;
pub mod store;

pub use env::Environment;
pub use probes::{EndProbes, EvalProbes, Sharpness};
pub use record::{CurvePoint, RunRecord, RunStatus, Summary};
pub use store::{Manifest, Store, read_records};
