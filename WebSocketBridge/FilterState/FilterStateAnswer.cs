namespace WebSocketBridge.FilterState;

/// <summary>What the bridge knows of a stream's filter state: the processor's JSON, or why there is none.</summary>
public enum FilterStateResult
{
    Ok,
    NotFound,
    Unavailable,
    Timeout,
    Busy,
    StreamsLimit,
}

/// <summary>One answer, shared by every request for the stream while it is cached (<see cref="Json"/> only when <see cref="FilterStateResult.Ok"/>).</summary>
public sealed record FilterStateAnswer(FilterStateResult Result, byte[]? Json, string Detail)
{
    /// <summary>The metric tag of <see cref="Result"/>.</summary>
    public string Tag => Result switch
    {
        FilterStateResult.Ok => "ok",
        FilterStateResult.NotFound => "not_found",
        FilterStateResult.Unavailable => "unavailable",
        FilterStateResult.Timeout => "timeout",
        FilterStateResult.Busy => "busy",
        _ => "streams_limit",
    };
}
