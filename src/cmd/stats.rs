//! `mosagg stats` — placeholder until its issue lands; fails loudly rather than pretending.

use crate::error::{Error, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {}

pub fn execute(_args: Args) -> Result<i32> {
    Err(Error::Internal("mosagg stats is not implemented yet".into()))
}
