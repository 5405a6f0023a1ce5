using Confluent.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>Where <see cref="KafkaFaults"/> can make a client call fail or stall.</summary>
public enum FaultPoint
{
    InitTransactions,
    BeginTransaction,
    /// <summary>The <c>Produce</c> call itself (a synchronous error, like librdkafka's queue full).</summary>
    Produce,
    /// <summary>The broker refuses a produced record: its delivery report carries the error (see <see cref="KafkaFaults.FailDelivery"/>).</summary>
    Delivery,
    /// <summary>
    /// A produced record reaches the broker only at the producer's next flush (its own or the commit's): librdkafka sends
    /// each partition's batch on its own, so records of one transaction arrive in no fixed order across partitions, and a
    /// kill, a fatal error or an abort before the flush loses them (see <see cref="KafkaFaults.HoldUntilFlush"/>).
    /// </summary>
    Send,
    SendOffsets,
    CommitTransaction,
    AbortTransaction,
    Consume,
    /// <summary>The consumer's own (non-transactional) <c>Commit</c>.</summary>
    Commit,
}

/// <summary>What a fault rule is matched against.</summary>
/// <param name="Client">The client's <c>Name</c>.</param>
/// <param name="Owner">The producer's transactional id, or the consumer's group id.</param>
/// <param name="Topic">The topic of a produce; null elsewhere.</param>
public sealed record FaultContext(FaultPoint Point, string Client, string? Owner, string? Topic);

/// <summary>
/// Deterministic fault injection for <see cref="InMemoryKafkaCluster"/>: the next <c>count</c> calls at a point that
/// match <c>when</c> throw the exception the test chose, or block until released (<see cref="Stall"/>). The exception's
/// type decides what it does to a producer, as in Confluent.Kafka: <see cref="KafkaTxnRequiresAbortException"/> leaves
/// the transaction needing an abort, a <see cref="KafkaException"/> whose <c>Error.IsFatal</c> makes the producer
/// unusable, anything else (e.g. <see cref="KafkaRetriableException"/>) changes nothing, so the call may be retried.
/// The static builders make the exceptions the real client throws.
/// </summary>
public sealed class KafkaFaults
{
    private readonly Lock _gate = new();
    private readonly List<Rule> _rules = [];

    /// <summary>The next <paramref name="count"/> matching calls at <paramref name="point"/> throw <paramref name="exception"/>().</summary>
    public void Fail(FaultPoint point, Func<Exception> exception, int count = 1, Func<FaultContext, bool>? when = null)
        => Add(new Rule(point, when, count, exception, null));

    /// <summary>
    /// The next <paramref name="count"/> matching records are refused by the broker: not written, and their delivery
    /// report carries <paramref name="code"/> (an asynchronous failure; a transaction then needs an abort, as in librdkafka).
    /// </summary>
    public void FailDelivery(ErrorCode code, int count = 1, Func<FaultContext, bool>? when = null)
        => Add(new Rule(FaultPoint.Delivery, when, count, () => new KafkaException(new Error(code)), null));

    /// <summary>
    /// The next <paramref name="count"/> matching records stay in the producer until its next flush: the broker has
    /// not got them before, and the producer's end (a kill, a fatal error) or an abort drops them.
    /// </summary>
    public void HoldUntilFlush(int count = 1, Func<FaultContext, bool>? when = null)
        => Add(new Rule(FaultPoint.Send, when, count, null, null));

    /// <summary>
    /// The next matching call at <paramref name="point"/> blocks (outside the cluster's lock) until the test calls
    /// <see cref="FaultStall.Release"/>, then goes on normally: a client that sleeps mid-call (GC pause, frozen pod) and
    /// wakes up to a world that moved on. The check is made on entry, before the call looks at any state.
    /// </summary>
    public FaultStall Stall(FaultPoint point, Func<FaultContext, bool>? when = null)
    {
        var stall = new FaultStall();
        Add(new Rule(point, when, 1, null, stall));
        return stall;
    }

    /// <summary>Rules not used up yet (a test can assert that every fault it set up did fire).</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _rules.Sum(r => r.Remaining);
            }
        }
    }

    /// <summary>A retriable error, as <c>CommitTransaction</c> throws on a timeout: retry the same call.</summary>
    public static KafkaRetriableException Retriable(ErrorCode code = ErrorCode.Local_TimedOut) => new(new Error(code));

    /// <summary>An abortable error: abort the transaction, then go on with a new one.</summary>
    public static KafkaTxnRequiresAbortException Abortable(ErrorCode code = ErrorCode.NotEnoughReplicas) => new(new Error(code));

    /// <summary>A fatal error (<c>Error.IsFatal</c>): the producer must be closed and a new one made.</summary>
    public static KafkaException Fatal(ErrorCode code = ErrorCode.Local_Fenced)
        => new(new Error(code, $"Fatal error: {code} (injected)", isFatal: true));

    /// <summary>A synchronous produce error, e.g. librdkafka's full local queue.</summary>
    public static ProduceException<byte[], byte[]> ProduceError(ErrorCode code = ErrorCode.Local_QueueFull)
        => new(new Error(code), new DeliveryResult<byte[], byte[]> { Status = PersistenceStatus.NotPersisted });

    /// <summary>
    /// Not thrown from <c>Consume</c>: given to the consumer's error callback instead (the group consumer's
    /// <see cref="global::FilterKafkaProcessor.Kafka.RebalanceHandlers.Error"/>, a restore consumer's <c>onError</c>), as
    /// librdkafka reports an assigned partition's error found in metadata (e.g. its topic's READ taken away).
    /// </summary>
    public static ErrorEventFault ErrorEvent(ErrorCode code) => new(new Error(code));

    /// <summary>A consume error, e.g. a transport failure.</summary>
    public static ConsumeException ConsumeError(ErrorCode code = ErrorCode.Local_Transport)
        => new(new ConsumeResult<byte[], byte[]>(), new Error(code));

    /// <summary>Throws or stalls if a rule matches <paramref name="context"/>. Never call it while holding the cluster's lock.</summary>
    internal void Hit(FaultContext context)
    {
        var rule = Take(context);
        if (rule?.Stall is { } stall)
        {
            stall.Block();
        }
        else if (rule?.Exception is { } exception)
        {
            throw exception();
        }
    }

    /// <summary>The error of an injected delivery failure for this record, if any.</summary>
    internal Error? DeliveryError(FaultContext context)
        => Take(context)?.Exception?.Invoke() is KafkaException e ? e.Error : null;

    /// <summary>Whether this record is held until the producer's next flush (<see cref="HoldUntilFlush"/>).</summary>
    internal bool Held(FaultContext context) => Take(context) is not null;

    private void Add(Rule rule)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rule.Remaining, 1);
        lock (_gate)
        {
            _rules.Add(rule);
        }
    }

    private Rule? Take(FaultContext context)
    {
        lock (_gate)
        {
            var rule = _rules.FirstOrDefault(r => r.Point == context.Point && (r.When?.Invoke(context) ?? true));
            if (rule is not null && --rule.Remaining == 0)
            {
                _rules.Remove(rule);
            }

            return rule;
        }
    }

    private sealed class Rule(FaultPoint point, Func<FaultContext, bool>? when, int count, Func<Exception>? exception, FaultStall? stall)
    {
        public FaultPoint Point => point;
        public Func<FaultContext, bool>? When => when;
        public Func<Exception>? Exception => exception;
        public FaultStall? Stall => stall;
        public int Remaining { get; set; } = count;
    }
}

/// <summary>A call held by <see cref="KafkaFaults.Stall"/>: <see cref="Reached"/> completes when a call blocks on it.</summary>
public sealed class FaultStall
{
    // A forgotten Release must fail the test, not hang the run.
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _released = new();

    public Task Reached => _reached.Task;

    public void Release() => _released.Set();

    internal void Block()
    {
        _reached.TrySetResult();
        if (!_released.Wait(Limit))
        {
            throw new TimeoutException($"A stalled Kafka call was not released within {Limit}.");
        }
    }
}

/// <summary>A fault the in-memory consumer hands to its error callback instead of throwing (<see cref="KafkaFaults.ErrorEvent"/>).</summary>
public sealed class ErrorEventFault(Error error) : Exception(error.Reason)
{
    public Error Error => error;
}
