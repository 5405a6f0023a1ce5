namespace SignalPipeline.DevBroker;

/// <summary>
/// Kafka protocol request types (API keys) that the mock cluster serves and that fault injection can target.
/// The numbers are the protocol's; any other key can be passed as <c>(KafkaApi)key</c>.
/// </summary>
public enum KafkaApi : short
{
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    InitProducerId = 22,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    TxnOffsetCommit = 28,
}
