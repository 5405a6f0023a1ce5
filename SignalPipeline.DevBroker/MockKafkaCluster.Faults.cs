using Confluent.Kafka;

namespace SignalPipeline.DevBroker;

/// <summary>
/// Fault injection through librdkafka's mock API, for tests: request errors per API, brokers down and up, added
/// round-trip time, partition leaders, topic errors. What a client actually sees for each is measured and written
/// down in docs/kafka.md ("Fault injection").
/// </summary>
public sealed partial class MockKafkaCluster
{
    /// <summary>Broker id meaning "every broker" for the broker calls.</summary>
    public const int AllBrokers = -1;

    // What ClearFaults has to undo; the mock cannot be asked for its current faults.
    private readonly HashSet<KafkaApi> _apisWithErrors = [];
    private readonly HashSet<string> _topicsWithErrors = [];

    /// <summary>
    /// The next <paramref name="errors"/>.Length requests of <paramref name="api"/> (to any broker, from any client)
    /// fail with these errors, first to last; later requests succeed. Pushing again appends.
    /// <see cref="ErrorCode.Local_Transport"/> makes the broker close the connection instead of answering.
    /// </summary>
    public void PushRequestErrors(KafkaApi api, params ReadOnlySpan<ErrorCode> errors)
    {
        if (errors.IsEmpty)
        {
            return;
        }

        var codes = new int[errors.Length];
        for (var i = 0; i < errors.Length; i++)
        {
            codes[i] = (int)errors[i];
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            LibrdkafkaNative.MockPushRequestErrorsArray(_cluster, (short)api, (UIntPtr)codes.Length, codes);
            _apisWithErrors.Add(api);
        }
    }

    /// <summary>Drops the errors still queued for <paramref name="api"/>.</summary>
    public void ClearRequestErrors(KafkaApi api)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            LibrdkafkaNative.MockClearRequestErrors(_cluster, (short)api);
            _apisWithErrors.Remove(api);
        }
    }

    /// <summary>
    /// Closes the broker's connections and refuses new ones (its port stays reserved). It does not move partition
    /// leadership: clients wait and retry until <see cref="SetBrokerUp"/>.
    /// </summary>
    public void SetBrokerDown(int brokerId)
        => BrokerCall(brokerId, "set broker down", () => LibrdkafkaNative.MockBrokerSetDown(_cluster, brokerId));

    public void SetBrokerUp(int brokerId)
        => BrokerCall(brokerId, "set broker up", () => LibrdkafkaNative.MockBrokerSetUp(_cluster, brokerId));

    /// <summary>Delays every response of the broker by <paramref name="rtt"/> (zero removes the delay).</summary>
    public void SetBrokerRtt(int brokerId, TimeSpan rtt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rtt, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rtt, TimeSpan.FromMilliseconds(int.MaxValue));
        BrokerCall(brokerId, "set broker RTT", () => LibrdkafkaNative.MockBrokerSetRtt(_cluster, brokerId, (int)rtt.TotalMilliseconds));
    }

    /// <summary>Moves a partition's leadership; <see cref="AllBrokers"/> (-1) leaves it without a leader.</summary>
    public void SetPartitionLeader(string topic, int partition, int brokerId)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        BrokerCall(brokerId, $"set the leader of {topic}[{partition}]",
            () => LibrdkafkaNative.MockPartitionSetLeader(_cluster, topic, partition, brokerId));
    }

    /// <summary>
    /// The error the topic reports in Metadata and AddPartitionsToTxn responses until set back to
    /// <see cref="ErrorCode.NoError"/> (the mock uses it nowhere else).
    /// </summary>
    public void SetTopicError(string topic, ErrorCode error)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            LibrdkafkaNative.MockTopicSetError(_cluster, topic, (int)error);
            if (error == ErrorCode.NoError)
            {
                _topicsWithErrors.Remove(topic);
            }
            else
            {
                _topicsWithErrors.Add(topic);
            }
        }
    }

    /// <summary>
    /// Deletes the topic and its records, as an operator's <c>kafka-topics --delete</c> would; <see cref="ClearFaults"/>
    /// does not bring it back (<see cref="CreateTopic"/> creates it again, empty). A Metadata request that allows topic
    /// creation (librdkafka's producer default, <c>allow.auto.create.topics</c>) creates it again with the mock's
    /// default partition count, as a broker with <c>auto.create.topics.enable</c> would.
    /// </summary>
    /// <exception cref="InvalidOperationException">The topic does not exist.</exception>
    public void DeleteTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            ThrowOnError(LibrdkafkaNative.MockTopicDelete(_cluster, topic), $"delete topic '{topic}'");
            _topicsWithErrors.Remove(topic); // setting its error back would create it again
        }
    }

    /// <summary>
    /// Undoes the faults set through this object: queued request errors, topic errors, brokers down, added RTT.
    /// Partition leaders are left where they were moved.
    /// </summary>
    public void ClearFaults()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            foreach (var api in _apisWithErrors)
            {
                LibrdkafkaNative.MockClearRequestErrors(_cluster, (short)api);
            }

            foreach (var topic in _topicsWithErrors)
            {
                LibrdkafkaNative.MockTopicSetError(_cluster, topic, (int)ErrorCode.NoError);
            }

            _apisWithErrors.Clear();
            _topicsWithErrors.Clear();
            ThrowOnError(LibrdkafkaNative.MockBrokerSetUp(_cluster, AllBrokers), "set all brokers up");
            ThrowOnError(LibrdkafkaNative.MockBrokerSetRtt(_cluster, AllBrokers, 0), "reset the brokers' RTT");
        }
    }

    private void BrokerCall(int brokerId, string what, Func<int> call)
    {
        if (brokerId != AllBrokers && (brokerId < 1 || brokerId > BrokerCount))
        {
            throw new ArgumentOutOfRangeException(nameof(brokerId), brokerId,
                $"Cannot {what}: broker {brokerId} does not exist (ids are 1 to {BrokerCount}, or {AllBrokers} for all).");
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
            ThrowOnError(call(), what);
        }
    }

    private static void ThrowOnError(int error, string what)
    {
        if (error != 0)
        {
            throw new InvalidOperationException($"Could not {what}: {LibrdkafkaNative.Describe(error)}");
        }
    }
}
