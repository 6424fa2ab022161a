//! Runs one transaction on the backend, admitted, counted, and shielded from client disconnects.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tracing::Instrument;

use crate::backend::idempotency::IdempotentRequest;
use crate::backend::{Backend, Committed, Once, OutRecord, ProducerInfo, TxnFailure};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Decrements the in-flight gauge even if the transaction task panics.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Runs the records `build` returns as one transaction.
///
/// The transaction runs on its own task: hyper drops a request's future when the client goes
/// away, and dropping a transaction between its commit request and the answer would leave the
/// producer in an unknown state. The admission permit travels with the task, so shutdown can
/// wait for such orphaned transactions too.
pub async fn run<B, F>(state: &Arc<AppState<B>>, build: F) -> Result<Committed, ApiError>
where
    B: Backend,
    F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
{
    guarded(state, move |backend| async move {
        backend.transact(build).await
    })
    .await
}

/// [`run`] at most once per idempotency key (see [`Backend::transact_once`]).
pub async fn run_once<B, F>(
    state: &Arc<AppState<B>>,
    request: IdempotentRequest,
    build: F,
) -> Result<Once, ApiError>
where
    B: Backend,
    F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
{
    guarded(state, move |backend| async move {
        backend.transact_once(request, build).await
    })
    .await
}

/// Admits, counts and runs `work` on its own task.
async fn guarded<B, T, W, Fut>(state: &Arc<AppState<B>>, work: W) -> Result<T, ApiError>
where
    B: Backend,
    T: Send + 'static,
    W: FnOnce(Arc<B>) -> Fut,
    Fut: Future<Output = Result<T, TxnFailure>> + Send + 'static,
{
    if state.is_draining() {
        return Err(ApiError::ShuttingDown);
    }
    let Some(permit) = state.try_admit() else {
        state
            .metrics
            .observe_transaction(Err(&TxnFailure::Saturated));
        return Err(TxnFailure::Saturated.into());
    };
    let work = work(Arc::clone(&state.backend));
    let in_flight = InFlight::enter(state.metrics.transactions_in_flight());
    let task = tokio::spawn(
        async move {
            let result = work.await;
            drop(in_flight);
            drop(permit);
            result
        }
        // Keep the engine's and pool's log lines inside the request's span.
        .instrument(tracing::Span::current()),
    );
    match task.await {
        Ok(result) => {
            state
                .metrics
                .observe_transaction(result.as_ref().map(|_| ()));
            if let Err(failure) = &result {
                tracing::warn!(%failure, "transaction failed");
            }
            Ok(result?)
        }
        Err(join_error) => {
            state.metrics.observe_internal_failure();
            tracing::error!(error = %join_error, "transaction task ended without an answer");
            Err(ApiError::TaskLost(
                "transaction task ended without an answer".to_owned(),
            ))
        }
    }
}
