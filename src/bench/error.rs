//! Why a benchmark run could not be made (as opposed to the failed requests it counts).

/// A run that could not be set up or read.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Something the run needs failed: what, and why.
    #[error("{what}")]
    Context {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The run found the gateway, the node SDK or the machine not as it must be.
    #[error("{0}")]
    Failed(String),
}

impl BenchError {
    /// `source` while doing `what`.
    pub fn context(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Context {
            what: what.into(),
            source: Box::new(source),
        }
    }
}
