namespace FilterService;

/// <summary>
/// The bytes of small request bodies read ahead of their slot, while they arrive and while their request waits
/// (FilterService:MaxWaitingBodyBytes, <see cref="RequestAdmission"/>): a slow client holds what it has sent, and all
/// such clients together at most this budget.
/// </summary>
public sealed class BodyBudget(long maxBytes)
{
    private long _taken;

    public long MaxBytes { get; } = maxBytes;

    /// <summary>Bytes taken now (the gauge <c>signalpipeline.filter.requests.waiting_body_bytes</c>).</summary>
    public long Taken => Interlocked.Read(ref _taken);

    public bool TryTake(long bytes)
    {
        var taken = Interlocked.Read(ref _taken);
        while (true)
        {
            if (taken + bytes > MaxBytes)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _taken, taken + bytes, taken);
            if (seen == taken)
            {
                return true;
            }

            taken = seen;
        }
    }

    public void Give(long bytes) => Interlocked.Add(ref _taken, -bytes);
}

/// <summary>A body read ahead of its slot found <see cref="BodyBudget"/> spent: the request gets 503 and may retry.</summary>
public sealed class BodyBudgetExhaustedException(BodyBudget budget)
    : Exception($"The service is busy: the bodies of requests waiting for a slot already take {budget.Taken} bytes of the "
        + $"{budget.MaxBytes} allowed (FilterService:MaxWaitingBodyBytes); retry after a second.");
