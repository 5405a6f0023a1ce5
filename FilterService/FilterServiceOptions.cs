using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Hosting;

namespace FilterService;

/// <summary>
/// Settings of the algorithm service (configuration section <c>FilterService</c>, environment
/// <c>FilterService__MaxBatchItems</c>...). The defaults keep one instance inside its pod's 512 MiB while accepting
/// everything the Kafka processor's remote mode sends (at most 131072 samples and 4096 items per
/// request, docs/processor.md "Modes").
/// </summary>
public sealed class FilterServiceOptions : IValidatableObject
{
    public const string SectionName = "FilterService";

    /// <summary>
    /// Largest accepted request body in bytes (<c>FilterService:MaxRequestBodyBytes</c>); larger bodies get 413. At most
    /// 1 GiB: a body is read into one array.
    /// </summary>
    [SettingRange(1, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Most items in one <c>/audio/batch</c> request; 4096 is what the processor sends at most (RemoteChunkFilterer.MaxItemsPerRequest): set lower, it halves its requests after a 413 until they pass.</summary>
    [SettingRange(1, 1_000_000)]
    public int MaxBatchItems { get; set; } = 4096;

    /// <summary>Most samples in one request, over all its items (2 Mi = 16 MiB of float64 in, as much out).</summary>
    [SettingRange(1, 64 * 1024 * 1024)]
    public int MaxSamplesPerRequest { get; set; } = 2 * 1024 * 1024;

    /// <summary>
    /// Most bytes of filter state one request may produce, over all its items (an rls order-64 state is about 33 KB,
    /// so 32 MiB is about 1000 such streams; continuing streams send their states in the body, which the 16 MiB body
    /// limit already caps at about 500).
    /// </summary>
    [SettingRange(1, int.MaxValue)]
    public long MaxStateBytesPerRequest { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// Requests with a larger (or undeclared) body served at once by one instance; more wait in a queue. One: a pod has
    /// one CPU, which a second large request would not make faster, only take from the small requests' lane.
    /// </summary>
    [SettingRange(1, 1024)]
    public int MaxConcurrentRequests { get; set; } = 1;

    /// <summary>Requests with a body of at most <see cref="SmallRequestBytes"/> served at once: their own lane, so they never wait behind large ones.</summary>
    [SettingRange(1, 1024)]
    public int MaxConcurrentSmallRequests { get; set; } = 2;

    /// <summary>The declared body size (Content-Length) up to which a request is small (2 MiB: a processor request of 131072 samples with its states).</summary>
    [SettingRange(0, long.MaxValue)]
    public long SmallRequestBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>
    /// Most bytes of small request bodies read ahead of their slot (<see cref="RequestAdmission"/>): a small request's
    /// body is read before it takes a slot, so a slow upload holds no slot, and what bodies take while they arrive or
    /// wait is bounded by this (a slow client holds what it has sent). Past it: 503 with <c>Retry-After</c>. Must take
    /// one small body (its buffers double as it arrives: about twice its size, plus 1 MiB of rounding).
    /// </summary>
    [SettingRange(1024 * 1024, 1L << 30)]
    public long MaxWaitingBodyBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Filter requests that may wait for a slot; beyond that, 503 at once.</summary>
    [SettingRange(0, 100_000)]
    public int RequestQueueLimit { get; set; } = 64;

    /// <summary>How long a request waits for a slot before it gets 503.</summary>
    [SettingTimeRange("00:00:00", "00:10:00")]
    public TimeSpan RequestQueueTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest a filter request may take once admitted (reading its body, filtering, answering); then 503.</summary>
    [SettingTimeRange("00:00:01", "01:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Least rate, in bytes per second, at which a large request's body must arrive once it holds its slot (Kestrel's
    /// per-request minimum data rate, measured after <see cref="LargeBodyMinRateGracePeriod"/>); slower gets 408, so a
    /// slow upload cannot hold the large lane's slot for up to <see cref="RequestTimeout"/>. 0 leaves Kestrel's own
    /// 240 bytes/s. 1 MiB/s brings the largest body (16 MiB) in 16 s, within the request timeout; a LAN client sends
    /// ten times faster. Applies to HTTP/1.x requests (Kestrel takes no per-request rate over HTTP/2).
    /// </summary>
    [SettingRange(0, 1L << 30)]
    public long LargeBodyMinBytesPerSecond { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long after a large request's body starts to be read <see cref="LargeBodyMinBytesPerSecond"/> is enforced.
    /// Longer than the gateway's FilterGateway:LargeBodyMinRateGracePeriod (2 s) by more than Kestrel's 1 s check
    /// interval, so that through the gateway, the gateway answers a slow client first (a service answering in the
    /// middle of a forwarded body reaches the client as 502). Over 1 s: Kestrel checks rates once a second.
    /// </summary>
    [SettingTimeRange("00:00:01.001", "00:10:00")]
    public TimeSpan LargeBodyMinRateGracePeriod { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// Linux nice value of the threads that serve the large requests' lane (0 = the thread pool, like small requests):
    /// on a busy CPU small requests go first instead of sharing it evenly with a 16 MiB run.
    /// </summary>
    [SettingRange(0, 19)]
    public int LargeRequestNice { get; set; } = 10;

    /// <summary>
    /// Most open connections (Kestrel's <c>MaxConcurrentConnections</c>); a connection beyond it is closed as soon as it is
    /// accepted, with no response, and counted in <c>kestrel.rejected_connections</c>. Bounds what connections alone can
    /// hold: each may hold up to <see cref="MaxRequestHeadersBytes"/> of headers while it sends them, about 2.6 times that in
    /// memory (parsed values are UTF-16 strings, plus receive blocks), so 512 connections at most ~90 MB, and each at most
    /// <see cref="MaxReadAheadBytes"/> of what it sent ahead of the service (pipelined requests, a queued request's body).
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxConnections { get; set; } = 512;

    /// <summary>
    /// Most bytes of request headers (Kestrel's <c>MaxRequestHeadersTotalSize</c>); a request past it gets 431 and its
    /// connection is closed (<c>kestrel.connection.duration{error.type=max_request_headers_total_size_exceeded}</c>). The
    /// binary form carries the filter state in <c>X-Filter-State</c>: rls order 64, the largest, is about 45 KB of base64.
    /// </summary>
    [SettingRange(16 * 1024, 16 * 1024 * 1024)]
    public int MaxRequestHeadersBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Most bytes Kestrel reads ahead of the service on one connection (the socket transport's <c>MaxReadBufferSize</c>,
    /// 1 MiB by its default): pipelined requests, or a body while its request waits for a slot, are read only this far,
    /// then TCP holds the rest. Must be over <see cref="MaxRequestHeadersBytes"/> (a header line must fit).
    /// </summary>
    [SettingRange(32 * 1024, 64 * 1024 * 1024)]
    public int MaxReadAheadBytes { get; set; } = 128 * 1024;

    /// <summary>The largest body read ahead of its slot: a small one the body limit does not refuse.</summary>
    public long LargestWaitingBody => Math.Min(SmallRequestBytes, MaxRequestBodyBytes);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var result in KestrelReadAhead.Validate(SectionName, MaxReadAheadBytes, MaxRequestHeadersBytes))
        {
            yield return result;
        }

        var needed = 2 * LargestWaitingBody + 1024 * 1024;
        if (MaxWaitingBodyBytes < needed)
        {
            yield return new ValidationResult(
                $"{SectionName}:MaxWaitingBodyBytes = {MaxWaitingBodyBytes} cannot take one small body: a body of up to "
                + $"{LargestWaitingBody} bytes ({SectionName}:SmallRequestBytes, {SectionName}:MaxRequestBodyBytes) needs {needed} bytes while it is read.",
                [nameof(MaxWaitingBodyBytes)]);
        }
    }
}

/// <summary>The data annotations of <see cref="FilterServiceOptions"/> and its <see cref="FilterServiceOptions.Validate"/>, checked at start by generated code.</summary>
[OptionsValidator]
public sealed partial class FilterServiceOptionsValidator : IValidateOptions<FilterServiceOptions>;
