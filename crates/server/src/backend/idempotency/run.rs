//! One request with an idempotency key, as one transaction: claim, wait for earlier attempts,
//! then replay their result or run the request and record its own.

use bytes::Bytes;
use kafkatx_pool::{Lease, ProducerFactory};

use super::key::IdempotentRequest;
use super::log::{LookupError, MarkerLog};
use super::marker::Marker;
use crate::backend::transaction::{RecordSink, Stage, failure, pool_failure};
use crate::backend::{Committed, Once, OutRecord, Placed, ProducerInfo, TxnFailure};

/// Runs `build`'s records under `request`'s key on the leased producer.
///
/// Both markers go to the key's partition of the marker topic inside the transaction, so the
/// result is visible exactly when the records are. Racing attempts are ordered by their claims'
/// offsets: each waits for every earlier claim's transaction to end, so of two attempts of one
/// key the later one always sees the earlier one's commit and replays it.
pub(crate) async fn run_once<F>(
    lease: Lease<F>,
    log: &MarkerLog,
    request: &IdempotentRequest,
    build: &(dyn Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync),
) -> Result<Once, TxnFailure>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    let partition = match log.partition_for(&request.key).await {
        Ok(partition) => partition,
        Err(detail) => return Err(abort(lease, TxnFailure::Unavailable(detail)).await),
    };
    let marker = |marker: Marker| OutRecord {
        topic: log.topic().to_owned(),
        partition: Some(partition),
        key: Some(Bytes::from(request.key.clone())),
        value: Some(marker.encode()),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    let claim = marker(Marker::Claim {
        fingerprint: request.fingerprint.clone(),
    });
    let claim_offset = match send(&lease, vec![claim])
        .await
        .map(|p| p.first().map(|p| p.offset))
    {
        Ok(Some(offset)) => offset,
        Ok(None) => {
            let short = TxnFailure::Aborted("the claim was not acknowledged".into());
            return Err(abort(lease, short).await);
        }
        Err(failed) => return Err(abort(lease, failed).await),
    };
    match log
        .earlier_result(partition, claim_offset, &request.key)
        .await
    {
        Ok(None) => {}
        Ok(Some(earlier)) => {
            let answer = if earlier.fingerprint == request.fingerprint {
                Ok(Once::Replayed(earlier.committed))
            } else {
                Err(TxnFailure::KeyReused)
            };
            // Nothing of this attempt may stay: its claim goes with the abort.
            if let Err(error) = lease.abort().await {
                tracing::warn!(%error, "abort of a replayed attempt failed");
            }
            return answer;
        }
        Err(LookupError::InProgress) => return Err(abort(lease, TxnFailure::InProgress).await),
        Err(LookupError::Unavailable(detail)) => {
            return Err(abort(lease, TxnFailure::Unavailable(detail)).await);
        }
    }
    let info = ProducerInfo {
        transactional_id: lease.transactional_id().to_owned(),
    };
    let records = build(&info);
    let expected = records.len();
    let placed = match send(&lease, records).await {
        Ok(placed) if placed.len() == expected => placed,
        Ok(placed) => {
            let short = format!(
                "producer acknowledged {} of {expected} records",
                placed.len()
            );
            return Err(abort(lease, TxnFailure::Aborted(short)).await);
        }
        Err(failed) => return Err(abort(lease, failed).await),
    };
    let committed = Committed {
        transactional_id: info.transactional_id,
        placed,
    };
    let result = marker(Marker::result(&request.fingerprint, &committed));
    if let Err(failed) = send(&lease, vec![result]).await {
        return Err(abort(lease, failed).await);
    }
    lease
        .commit()
        .await
        .map_err(|e| pool_failure::<F::Producer>(&e, Stage::Commit))?;
    Ok(Once::Ran(committed))
}

/// Sends in the open transaction. A failure is reported as what it will be once the caller
/// aborted: nothing of the transaction visible, whatever the send error said.
async fn send<F>(lease: &Lease<F>, records: Vec<OutRecord>) -> Result<Vec<Placed>, TxnFailure>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    lease.producer().send(records).await.map_err(|error| {
        match failure::<F::Producer>(&error, Stage::Send) {
            TxnFailure::OutcomeUnknown(detail) => TxnFailure::Aborted(detail),
            other => other,
        }
    })
}

async fn abort<F>(lease: Lease<F>, failed: TxnFailure) -> TxnFailure
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    if let Err(error) = lease.abort().await {
        tracing::warn!(%error, "abort after a failed idempotent attempt failed");
    }
    failed
}
