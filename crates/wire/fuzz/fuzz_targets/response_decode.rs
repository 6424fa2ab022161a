//! Feeds arbitrary bytes as a response frame of every API the client reads, at every
//! version we could negotiate: decoding must return an answer or an error, never panic or
//! abort (a hostile array length once made the allocator abort the process).

#![no_main]

use bytes::Bytes;
use kafkatx_wire::codec::decode_response;
use kafkatx_wire::protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest,
    CreateTopicsRequest, EndTxnRequest, FetchRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest,
    TxnOffsetCommitRequest,
};
use kafkatx_wire::versions::our_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let frame = Bytes::copy_from_slice(frame);
    let apis = [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::FindCoordinator,
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::CreateTopics,
    ];
    let api = apis[usize::from(selector) % apis.len()];
    let Some((min, max)) = our_range(api) else {
        return;
    };
    let span = (max - min + 1) as u8;
    let version = min + i16::from((selector / apis.len() as u8) % span);
    let _ = match api {
        ApiKey::ApiVersions => decode_response::<ApiVersionsRequest>(frame, version).map(drop),
        ApiKey::Metadata => decode_response::<MetadataRequest>(frame, version).map(drop),
        ApiKey::Produce => decode_response::<ProduceRequest>(frame, version).map(drop),
        ApiKey::Fetch => decode_response::<FetchRequest>(frame, version).map(drop),
        ApiKey::ListOffsets => decode_response::<ListOffsetsRequest>(frame, version).map(drop),
        ApiKey::FindCoordinator => {
            decode_response::<FindCoordinatorRequest>(frame, version).map(drop)
        }
        ApiKey::InitProducerId => {
            decode_response::<InitProducerIdRequest>(frame, version).map(drop)
        }
        ApiKey::AddPartitionsToTxn => {
            decode_response::<AddPartitionsToTxnRequest>(frame, version).map(drop)
        }
        ApiKey::AddOffsetsToTxn => {
            decode_response::<AddOffsetsToTxnRequest>(frame, version).map(drop)
        }
        ApiKey::EndTxn => decode_response::<EndTxnRequest>(frame, version).map(drop),
        ApiKey::TxnOffsetCommit => {
            decode_response::<TxnOffsetCommitRequest>(frame, version).map(drop)
        }
        _ => decode_response::<CreateTopicsRequest>(frame, version).map(drop),
    };
});
