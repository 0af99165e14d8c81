//! The async runtime every query runs on: one worker thread per partition, so the
//! engine's partitions and the machine's cores line up.

use crate::engine::EngineOptions;
use crate::error::{Error, Result};

pub fn runtime(opts: &EngineOptions) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.partitions.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}
