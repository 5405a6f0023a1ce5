using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SignalPipeline.Filters;

namespace FilterGateway;

/// <summary>
/// Where each algorithm's requests go, keyed by algorithm name. Unset: the AppHost's own services, found by service
/// discovery (<c>http://filter-kalman</c> etc., <see cref="FilterRegistration.Service"/>). Set (the guide's names,
/// <see cref="FilterRegistration.ServiceUrlSetting"/>: <c>KALMAN_SERVICE_URL</c>, <c>RLS_SERVICE_URL</c>, <c>LS_SERVICE_URL</c>,
/// <c>LMS_SERVICE_URL</c>): any absolute http(s) URL, e.g. the original remote services. One entry per algorithm of the
/// catalogue (<see cref="FilterFactory.Registrations"/>), so a new algorithm gets its route and setting with no edit here.
/// </summary>
public sealed class ServiceUrlOptions
{
    /// <summary>The configured URL per algorithm name (case-insensitive); absent or null: the default service.</summary>
    public Dictionary<string, string?> Urls { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Reads each algorithm's <c>{NAME}_SERVICE_URL</c> setting.</summary>
    public static void Bind(ServiceUrlOptions options, IConfiguration configuration)
    {
        foreach (var registration in FilterFactory.Registrations)
        {
            options.Urls[registration.Name] = configuration[registration.ServiceUrlSetting];
        }
    }

    /// <summary>Where <paramref name="registration"/>'s requests go: its setting when set, else <c>http://{Service}</c>.</summary>
    public string AddressOf(FilterRegistration registration)
        => Urls.GetValueOrDefault(registration.Name) ?? $"http://{registration.Service}";
}

/// <summary>The gateway's own settings (configuration section <c>FilterGateway</c>).</summary>
public sealed class FilterGatewayOptions : IValidatableObject
{
    public const string SectionName = "FilterGateway";

    /// <summary>Largest accepted request body in bytes; larger requests get 413 before reaching a service (at most 1 GiB, the services' own ceiling).</summary>
    [SettingRange(1, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Requests per second allowed per client IP; 0 (the default) turns rate limiting off. The client IP is the connection's,
    /// or X-Forwarded-For when the connection comes from a trusted proxy (ForwardedHeaders:KnownNetworks / KnownProxies).
    /// </summary>
    [SettingRange(0, int.MaxValue)]
    public int RateLimitPermitsPerSecond { get; set; }

    /// <summary>
    /// Requests a client may burst above the steady rate; 0 means the same as <see cref="RateLimitPermitsPerSecond"/>. Not
    /// below the rate: the bucket holds at most this many and is refilled by whole seconds, so a smaller burst would cap a
    /// client at the burst per second, not the rate set.
    /// </summary>
    [SettingRange(0, int.MaxValue)]
    public int RateLimitBurst { get; set; }

    /// <summary>How often each destination's <c>/health</c> is probed; also the <c>Retry-After</c> of a 503 for a dead service.</summary>
    [SettingTimeRange("00:00:00.001", "1.00:00:00")]
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a probe may take before it counts as failed (<see cref="ReachableHealthPolicy.FailuresToUnhealthy"/> failed in a row mark the destination dead).</summary>
    [SettingTimeRange("00:00:00.001", "1.00:00:00")]
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest silence of a service in the middle of a forwarded request before the gateway gives up (504).</summary>
    [SettingTimeRange("00:00:00.001", "1.00:00:00")]
    public TimeSpan ForwardActivityTimeout { get; set; } = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Longest a forwarded request's body may take to arrive, from the start of its forwarding; then 408 naming this
    /// setting (<see cref="RequestBodyDeadline"/>). Below the services' FilterService:RequestTimeout (30 s), so that the
    /// gateway answers a slow client before the service does: an answer of the service in the middle of the body reached
    /// the client as 502.
    /// </summary>
    [SettingTimeRange("00:00:01", "01:00:00")]
    public TimeSpan RequestBodyTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// Least rate, in bytes per second, at which a large request's body (declared over <see cref="LargeRequestBytes"/>, or
    /// undeclared) must arrive while it is forwarded (Kestrel's per-request minimum data rate, after
    /// <see cref="LargeBodyMinRateGracePeriod"/>); slower gets 408 naming this setting. The services hold their large
    /// requests to FilterService:LargeBodyMinBytesPerSecond (1 MiB/s after 4 s): keep this at least that and its grace
    /// shorter, so that the gateway answers a slow client first (an answer of the service in the middle of the body
    /// reaches the client as 502). 0 leaves Kestrel's own 240 bytes/s. HTTP/1.x clients only (Kestrel takes no
    /// per-request rate over HTTP/2).
    /// </summary>
    [SettingRange(0, 1L << 30)]
    public long LargeBodyMinBytesPerSecond { get; set; } = 1024 * 1024;

    /// <summary>How long after a large body starts to be forwarded <see cref="LargeBodyMinBytesPerSecond"/> is enforced (over 1 s: Kestrel checks once a second).</summary>
    [SettingTimeRange("00:00:01.001", "00:10:00")]
    public TimeSpan LargeBodyMinRateGracePeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Requests with a declared body over <see cref="LargeRequestBytes"/> (or a chunked one) forwarded at once by this
    /// gateway; more wait up to <see cref="LargeRequestQueueTimeout"/> without their body being read, then get 503.
    /// 0 turns the lane off. Each algorithm service serves one large request at a time (FilterService:MaxConcurrentRequests).
    /// </summary>
    [SettingRange(0, 1024)]
    public int MaxConcurrentLargeRequests { get; set; } = 2;

    /// <summary>The declared body size (Content-Length) over which a request is large (the services' FilterService:SmallRequestBytes).</summary>
    [SettingRange(0, long.MaxValue)]
    public long LargeRequestBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Large requests that may wait for a slot; beyond that, 503 at once.</summary>
    [SettingRange(0, 100_000)]
    public int LargeRequestQueueLimit { get; set; } = 16;

    /// <summary>
    /// Large requests one client address may have forwarded or waiting at once; one more gets 429 before any of its body
    /// is read. Without it one client sending two bodies slowly (Kestrel accepts 240 B/s) held both slots of
    /// <see cref="MaxConcurrentLargeRequests"/> for every other client.
    /// </summary>
    [SettingRange(1, 100_000)]
    public int MaxLargeRequestsPerAddress { get; set; } = 1;

    /// <summary>How long a large request waits for a slot before it gets 503.</summary>
    [SettingTimeRange("00:00:00", "00:10:00")]
    public TimeSpan LargeRequestQueueTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Answers 400-499 (other than 429) one client address may get within <see cref="RefusalWindow"/>; past them its
    /// requests get 429 (after <see cref="RefusalDelay"/>), never forwarded, until the window ends (<see cref="RefusalBudget"/>). 0 turns it off.
    /// </summary>
    [SettingRange(0, 1_000_000)]
    public int RefusalsPerAddress { get; set; } = 50;

    /// <summary>The window of <see cref="RefusalsPerAddress"/>; also the <c>Retry-After</c> of its 429.</summary>
    [SettingTimeRange("00:00:01", "01:00:00")]
    public TimeSpan RefusalWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a 429 of <see cref="RefusalsPerAddress"/> is held before it is sent; 0 sends it at once.</summary>
    [SettingTimeRange("00:00:00", "00:01:00")]
    public TimeSpan RefusalDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>429s of <see cref="RefusalsPerAddress"/> held at once; more are sent without the delay.</summary>
    [SettingRange(0, 1_000_000)]
    public int MaxHeldRefusals { get; set; } = 1024;

    /// <summary>
    /// Health probes (<c>/health</c>, <c>/alive</c>) one client address may send per second; past them its probes get 429
    /// (held <see cref="RefusalDelay"/>, like the refusal budget's) until the next second. Probes are never rate limited
    /// (a probe refused because the node shares a budget with clients would restart a healthy pod), so without this one
    /// address pipelining probes could keep the gateway's CPU busy. A kubelet sends well under one a second. 0 turns it off.
    /// </summary>
    [SettingRange(0, 1_000_000)]
    public int ProbesPerAddressPerSecond { get; set; } = 20;

    /// <summary>
    /// Client addresses each per-address limiter (the rate limit, the refusal budget, the probe budget) keeps a limiter for; past it,
    /// addresses not yet held share one limiter until held ones expire (10 s after their budget is whole again).
    /// </summary>
    [SettingRange(1, 10_000_000)]
    public int MaxTrackedAddresses { get; set; } = 100_000;

    /// <summary>Retries of a request whose connection to the service could not be established.</summary>
    [SettingRange(0, 10)]
    public int ConnectRetries { get; set; } = 2;

    /// <summary>
    /// Most open client connections (Kestrel's <c>MaxConcurrentConnections</c>); a connection beyond it is closed as soon
    /// as it is accepted, with no response, and counted in <c>kestrel.rejected_connections</c>. Bounds what connections
    /// alone can hold: each sending headers up to <see cref="MaxRequestHeadersBytes"/> holds about 170 KB, so 1536 hold at
    /// most ~260 MB, inside the pod's 512 MiB (4096 with 256 KiB of headers each took the gateway out of memory after
    /// ~1,000: docs/benchmarks.md). It is global: one address is bounded by <see cref="MaxConnectionsPerAddress"/> or
    /// the Ingress (32 connections per controller pod), so the default leaves room for many (the abuse bench's 1,000
    /// idle sockets from one address leave a normal client served).
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxConnections { get; set; } = 1536;

    /// <summary>
    /// Most open connections from one client address, so that one address cannot take every slot of
    /// <see cref="MaxConnections"/>; a connection past it is closed as soon as it is accepted, with no response, and
    /// counted in <c>signalpipeline.gateway.connections.rejected{reason=address_limit}</c>. Connections from the trusted
    /// proxies (<c>ForwardedHeaders:KnownNetworks</c> / <c>KnownProxies</c>, the Ingress) are not counted: the proxy caps
    /// each client itself.
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxConnectionsPerAddress { get; set; } = 256;

    /// <summary>
    /// Most bytes of request headers (Kestrel's <c>MaxRequestHeadersTotalSize</c>); a request past it gets 431 and its
    /// connection is closed (<c>kestrel.connection.duration{error.type=max_request_headers_total_size_exceeded}</c>).
    /// Binary requests carry the filter state in <c>X-Filter-State</c> (rls order 64, the largest, about 45 KB of
    /// base64). A connection sending headers holds about 2.6 times what it sent (parsed values are UTF-16 strings, plus
    /// receive blocks; measured, docs/benchmarks.md "Header floods"), so <see cref="MaxConnections"/> times that bounds
    /// what connections can hold before a request starts.
    /// </summary>
    [SettingRange(16 * 1024, 16 * 1024 * 1024)]
    public int MaxRequestHeadersBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Most bytes Kestrel reads ahead of the gateway on one client connection (the socket transport's
    /// <c>MaxReadBufferSize</c>, 1 MiB by its default): pipelined requests, or a body while its request waits, are read
    /// only this far, then TCP holds the rest. Must be over <see cref="MaxRequestHeadersBytes"/> (a header line must fit).
    /// </summary>
    [SettingRange(32 * 1024, 64 * 1024 * 1024)]
    public int MaxReadAheadBytes { get; set; } = 128 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var result in KestrelReadAhead.Validate(SectionName, MaxReadAheadBytes, MaxRequestHeadersBytes))
        {
            yield return result;
        }

        if (RateLimitBurst > 0 && RateLimitBurst < RateLimitPermitsPerSecond)
        {
            yield return new ValidationResult(
                $"{SectionName}:RateLimitBurst = {RateLimitBurst} is below {SectionName}:RateLimitPermitsPerSecond = {RateLimitPermitsPerSecond}: "
                + $"a client would get at most {RateLimitBurst} requests a second. Set it to 0 (the rate) or at least the rate.",
                [nameof(RateLimitBurst)]);
        }
    }
}

/// <summary>Checks the URL settings at start, naming the setting that is wrong.</summary>
public sealed class ServiceUrlOptionsValidator : IValidateOptions<ServiceUrlOptions>
{
    public ValidateOptionsResult Validate(string? name, ServiceUrlOptions options)
    {
        var failures = new List<string>();
        foreach (var registration in FilterFactory.Registrations)
        {
            if (options.Urls.GetValueOrDefault(registration.Name) is { } value && !IsHttpUrl(value))
            {
                failures.Add($"{registration.ServiceUrlSetting} '{value}' is not an absolute http(s) URL (e.g. http://filter-host:8000); unset it to use the AppHost's own service.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    public static bool IsHttpUrl(string value)
        => Uri.TryCreate(value, UriKind.Absolute, out var uri)
           && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
           && !string.IsNullOrEmpty(uri.Host);
}

/// <summary>The data annotations of <see cref="FilterGatewayOptions"/>, checked at start by generated code.</summary>
[OptionsValidator]
public sealed partial class FilterGatewayOptionsValidator : IValidateOptions<FilterGatewayOptions>;
