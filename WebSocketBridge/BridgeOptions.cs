using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace WebSocketBridge;

/// <summary>
/// The bridge's settings, bound from the <c>Bridge</c> configuration section (environment: <c>Bridge__FrameRate</c>...)
/// and validated at start. <c>OUTPUT_TOPIC</c> (the processor's output, the guide's name) sets <see cref="Topic"/>.
/// </summary>
public sealed class BridgeOptions : IValidatableObject
{
    public const string SectionName = "Bridge";

    /// <summary>The topic the bridge reads: the processor's output.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "Bridge:Topic (OUTPUT_TOPIC) is empty: name the processor's output topic (sample-output by default).")]
    public string Topic { get; set; } = PipelineTopics.DefaultOutput;

    /// <summary>Frames per second sent to each client; each frame carries every subscribed stream's new data.</summary>
    [SettingRange(1, 240)]
    public int FrameRate { get; set; } = 30;

    /// <summary>
    /// Most chart points per second a client receives, over all its streams (raw and filtered count once per point).
    /// A client may ask for fewer; raw (undecimated) clients are not bounded.
    /// </summary>
    [SettingRange(60, 10_000_000)]
    public int PointsPerSecond { get; set; } = 24_000;

    /// <summary>Frames queued per client before the oldest is dropped (and counted).</summary>
    [SettingRange(1, 1024)]
    public int ClientQueueFrames { get; set; } = 8;

    /// <summary>Most concurrent WebSocket clients; further upgrades get 503.</summary>
    [SettingRange(1, 1_000_000)]
    public int MaxConnections { get; set; } = 1000;

    /// <summary>
    /// Most open HTTP connections not upgraded to WebSockets (Kestrel's <c>MaxConcurrentConnections</c>: page loads, API
    /// calls, upgrades not yet answered); a connection beyond it is closed as soon as it is accepted, with no response,
    /// and counted in <c>kestrel.rejected_connections</c>. WebSocket clients are bounded by Bridge:MaxConnections.
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxHttpConnections { get; set; } = 1024;

    /// <summary>
    /// Most open TCP connections from one address, WebSockets included, so that one address cannot take every slot of
    /// Bridge:MaxHttpConnections; a connection past it is closed as soon as it is accepted, unanswered, and counted in
    /// <c>signalpipeline.bridge.connections.rejected{reason=tcp_address_limit}</c>. Connections from the trusted proxies
    /// (ForwardedHeaders:KnownNetworks / KnownProxies, the Ingress) are not counted: the proxy caps each client itself,
    /// and Bridge:MaxConnectionsPerAddress still bounds each client's WebSockets by its forwarded address.
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxHttpConnectionsPerAddress { get; set; } = 64;

    /// <summary>
    /// Most bytes Kestrel reads ahead of the bridge on one connection (the socket transport's <c>MaxReadBufferSize</c>, 1 MiB
    /// by its default). A client's WebSocket frames are read at most <see cref="ClientMessagesPerSecond"/> a second; what it
    /// sends faster waits here, then in TCP. Above Kestrel's 32 KiB request-header limit (a header line must fit).
    /// </summary>
    [SettingRange(48 * 1024, 64 * 1024 * 1024)]
    public int MaxReadAheadBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Client addresses each per-address limiter (requests per second, upgrades per minute, filter-state requests per minute) keeps a
    /// limiter for; past it, addresses not yet held share one limiter until held ones expire (10 s after their bucket
    /// is full again).
    /// </summary>
    [SettingRange(1, 10_000_000)]
    public int MaxTrackedAddresses { get; set; } = 100_000;

    /// <summary>
    /// Most concurrent WebSocket clients from one remote address (the connection's, or X-Forwarded-For from a trusted
    /// proxy); further upgrades from it get 429, so one script cannot take every slot.
    /// </summary>
    [SettingRange(1, 1_000_000)]
    public int MaxConnectionsPerAddress { get; set; } = 16;

    /// <summary>
    /// WebSocket upgrades one remote address may attempt per minute, after a burst of Bridge:MaxConnectionsPerAddress;
    /// further attempts get 429 (with <c>Retry-After</c>) before any other work, so reconnecting in a loop costs the bridge nothing.
    /// An address that holds Bridge:MaxConnectionsPerAddress connections is told that limit instead, and takes no token.
    /// </summary>
    [SettingRange(1, 600_000)]
    public int ConnectsPerAddressPerMinute { get; set; } = 120;

    /// <summary>
    /// HTTP requests one remote address may make per second (page files, <c>/streams</c>, <c>/clients</c>, probes, upgrades),
    /// after a burst of twice as many; past it, 429 with <c>Retry-After: 1</c>, held a second before it is sent so that
    /// a client looping on its refusals is slowed to one request per connection a second. 0 turns it off. A live page
    /// makes about one request a second after its first few files, so 20 leaves room for ten pages behind one address.
    /// </summary>
    [SettingRange(0, 1_000_000)]
    public int RequestsPerAddressPerSecond { get; set; } = 20;

    /// <summary>Most streams one client may be subscribed to at once (over all its messages); <c>"*"</c> counts as one.</summary>
    [SettingRange(1, 100_000)]
    public int MaxSubscriptionsPerClient { get; set; } = 256;

    /// <summary>
    /// WebSocket frames per second the bridge reads from one client, after a burst of as many: a command (one frame, as a
    /// page sends it), each fragment of one, each ping, pong or close. Past it the bridge reads that client's socket later
    /// (a bucket per client), so a script alternating subscribe and unsubscribe, or sending pings or empty fragments,
    /// gets its answers slower instead of taking a CPU. Nothing is refused or closed.
    /// </summary>
    [SettingRange(1, 100_000)]
    public int ClientMessagesPerSecond { get; set; } = 20;

    /// <summary>
    /// Seconds the output-topic consumer may have errors and no successful fetch before <c>/health</c> turns unready
    /// (the cluster gone, the topic refused or deleted); an idle topic is not a stall. Ready again once reads succeed.
    /// </summary>
    [SettingRange(1, 3_600)]
    public int ConsumerStallSeconds { get; set; } = 30;

    /// <summary>Seconds a client may stay connected without any subscription before it is closed (1008).</summary>
    [SettingRange(1, 86_400)]
    public int IdleTimeoutSeconds { get; set; } = 60;

    /// <summary>Seconds one send to a client may take; a client that reads nothing for that long is disconnected.</summary>
    [SettingRange(1, 3_600)]
    public int SendTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Seconds without a frame from a client before the bridge pings it (ASP.NET Core's
    /// <c>WebSocketOptions.KeepAliveInterval</c>); the ping also keeps proxies from closing a quiet connection.
    /// </summary>
    [SettingRange(1, 3_600)]
    public int KeepAliveIntervalSeconds { get; set; } = 20;

    /// <summary>
    /// Seconds a client has to answer a keep-alive ping (<c>WebSocketOptions.KeepAliveTimeout</c>); without a pong the
    /// socket is aborted, so a client whose network vanished gives back its connection slot and subscriptions within
    /// about interval + timeout instead of when TCP gives up (about 15 minutes). Browsers and <c>ClientWebSocket</c>
    /// answer pings by themselves while they read.
    /// </summary>
    [SettingRange(1, 3_600)]
    public int KeepAliveTimeoutSeconds { get; set; } = 20;

    /// <summary>
    /// Bytes of beats that clients may hold together, queued or being sent (128 MiB): the frames' values and the payloads
    /// written from them. Past it a new beat goes only to the clients that keep up (nothing queued, no send under way;
    /// the others count it as dropped), and a client stalled in one message for over a second is disconnected.
    /// </summary>
    [SettingRange(1 << 20, 64L << 30)]
    public long MaxHeldFrameBytes { get; set; } = DefaultMaxHeldFrameBytes;

    public const long DefaultMaxHeldFrameBytes = 128 << 20;

    /// <summary>Most streams held in memory (and in <c>GET /streams</c>); chunks of further streams are skipped and counted.</summary>
    [SettingRange(1, 10_000_000)]
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>
    /// Largest chunk decoded, in samples per signal. Must be at least the processor's Processor:MaxChunkSamples
    /// (1,000,000), or the larger chunks never reach the page (they are counted as undecodable, error too-many-samples).
    /// </summary>
    [SettingRange(1, 16 * 1024 * 1024)]
    public int MaxChunkSamples { get; set; } = 1_000_000;

    /// <summary>
    /// <c>GET /clients</c> lists each client (id, subscriptions, counters) only when true; otherwise it gives counts.
    /// The list shows what everyone watches, so it is off unless an operator turns it on.
    /// </summary>
    public bool ListClients { get; set; }

    /// <summary>
    /// Origins (scheme://host[:port]) allowed to open <c>/ws</c> besides the page's own origin. <c>*</c> allows any.
    /// Requests without an Origin header (non-browser clients) are allowed; Bridge:MaxConnectionsPerAddress bounds them.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Largest client message accepted; a larger one closes the connection with 1009.</summary>
    [SettingRange(64, 1024 * 1024)]
    public int MaxClientMessageBytes { get; set; } = 4096;

    /// <summary>How long a silent stream stays in <c>GET /streams</c> and in memory.</summary>
    [SettingRange(1, 86_400)]
    public int StreamTtlSeconds { get; set; } = 60;

    /// <summary>Samples a stream may hold between two frames; beyond that the oldest pending samples are dropped.</summary>
    [SettingRange(1024, 64 * 1024 * 1024)]
    public int MaxPendingSamplesPerStream { get; set; } = 1 << 20;

    /// <summary>
    /// Samples all streams may hold together between two frames (2 Mi: 32 MiB of raw and filtered values); past it a
    /// chunk is not shown and its samples are counted as overflowed. Must be at least MaxPendingSamplesPerStream.
    /// </summary>
    [SettingRange(1024, 256 * 1024 * 1024)]
    public int MaxPendingSamples { get; set; } = 2 << 20;

    /// <summary>The check that spans settings: a stream's pending samples must hold the largest chunk decoded.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxChunkSamples > MaxPendingSamplesPerStream)
        {
            yield return new ValidationResult(
                $"{SectionName}:{nameof(MaxChunkSamples)} = {MaxChunkSamples} is over {SectionName}:{nameof(MaxPendingSamplesPerStream)} = "
                + $"{MaxPendingSamplesPerStream}: a stream's pending samples must hold the largest chunk; raise {nameof(MaxPendingSamplesPerStream)}.",
                [nameof(MaxChunkSamples)]);
        }

        if (MaxPendingSamplesPerStream > MaxPendingSamples)
        {
            yield return new ValidationResult(
                $"{SectionName}:{nameof(MaxPendingSamplesPerStream)} = {MaxPendingSamplesPerStream} is over {SectionName}:{nameof(MaxPendingSamples)} = "
                + $"{MaxPendingSamples}: all streams together must hold what one stream may; raise {nameof(MaxPendingSamples)}.",
                [nameof(MaxPendingSamplesPerStream)]);
        }

        // An entry that is not an origin never equals a browser's Origin header: the origin it was meant for would get 403.
        for (var i = 0; i < AllowedOrigins.Length; i++)
        {
            if (!IsOrigin(AllowedOrigins[i]))
            {
                yield return new ValidationResult(
                    $"{SectionName}:{nameof(AllowedOrigins)}:{i} = '{AllowedOrigins[i]}' is not an origin: write scheme://host[:port] "
                    + "as browsers send it in the Origin header (no path, query or user), or * for any origin.",
                    [nameof(AllowedOrigins)]);
            }
        }
    }

    private static bool IsOrigin(string value)
        => value == "*"
           || (value.Contains("://", StringComparison.Ordinal)
               && Uri.TryCreate(value, UriKind.Absolute, out var uri)
               && uri.Authority.Length > 0 && uri.UserInfo.Length == 0
               && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0
               && !value.EndsWith('#') && !value.EndsWith('?'));
}

/// <summary>The data annotations of <see cref="BridgeOptions"/> and its <see cref="BridgeOptions.Validate"/>, checked at start by generated code.</summary>
[OptionsValidator]
public sealed partial class BridgeOptionsValidator : IValidateOptions<BridgeOptions>;
