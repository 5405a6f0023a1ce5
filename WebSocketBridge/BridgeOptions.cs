using System.ComponentModel.DataAnnotations;

namespace WebSocketBridge;

/// <summary>
/// The bridge's settings, bound from the <c>Bridge</c> configuration section (environment: <c>Bridge__FrameRate</c>...)
/// and validated at start. <c>OUTPUT_TOPIC</c> (the processor's output, the guide's name) sets <see cref="Topic"/>.
/// </summary>
public sealed class BridgeOptions
{
    public const string SectionName = "Bridge";

    /// <summary>The topic the bridge reads: the processor's output.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Topic { get; set; } = "sample-output";

    /// <summary>Frames per second sent to each client; each frame carries every subscribed stream's new data.</summary>
    [Range(1, 240)]
    public int FrameRate { get; set; } = 30;

    /// <summary>
    /// Most chart points per second a client receives, over all its streams (raw and filtered count once per point).
    /// A client may ask for fewer; raw (undecimated) clients are not bounded.
    /// </summary>
    [Range(60, 10_000_000)]
    public int PointsPerSecond { get; set; } = 24_000;

    /// <summary>Frames queued per client before the oldest is dropped (and counted).</summary>
    [Range(1, 1024)]
    public int ClientQueueFrames { get; set; } = 8;

    /// <summary>Most concurrent WebSocket clients; further upgrades get 503.</summary>
    [Range(1, 1_000_000)]
    public int MaxConnections { get; set; } = 1000;

    /// <summary>
    /// Origins (scheme://host[:port]) allowed to open <c>/ws</c> besides the page's own origin. <c>*</c> allows any.
    /// Requests without an Origin header (non-browser clients) are always allowed.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Largest client message accepted; a larger one closes the connection with 1009.</summary>
    [Range(64, 1024 * 1024)]
    public int MaxClientMessageBytes { get; set; } = 4096;

    /// <summary>How long a silent stream stays in <c>GET /streams</c> and in memory.</summary>
    [Range(1, 86_400)]
    public int StreamTtlSeconds { get; set; } = 60;

    /// <summary>Samples a stream may hold between two frames; beyond that the oldest pending samples are dropped.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxPendingSamplesPerStream { get; set; } = 1 << 20;
}
