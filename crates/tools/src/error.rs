//! Why a tool failed.

/// Why `kafkatx load`, `perf` or `consume` failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Flags that do not fit together, or an input file that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// A runtime for a tool could not start, or its thread failed.
    #[error("async runtime: {0}")]
    Runtime(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(String),
    /// `kafkatx consume` could not read the topic.
    #[error("cannot read the topic: {0}")]
    Consume(kafkatx_wire::reader::ReadError),
    /// `kafkatx perf` could not run.
    #[error("the benchmark failed: {0}")]
    Perf(crate::perf::PerfError),
    /// `kafkatx perf` ran but some records were not acknowledged.
    #[error("{0} records failed")]
    PerfRecordsFailed(u64),
    /// `kafkatx load` could not run.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    /// `kafkatx load --check` found anomalies, or its two readers disagreed.
    #[error("the exactly-once check failed (see the report above)")]
    CheckFailed,
}
