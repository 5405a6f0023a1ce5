namespace SignalPipeline.Messages;

/// <summary>The wire form of a chunk's value, chosen by the <c>content-type</c> header.</summary>
public enum SampleFormat
{
    /// <summary>UTF-8 JSON object (<see cref="ContentTypes.Json"/>); the default when the header is absent.</summary>
    Json,

    /// <summary>Little-endian IEEE 754 binary64 samples (<see cref="ContentTypes.Float64"/>), metadata in headers.</summary>
    Float64,

    /// <summary>Little-endian IEEE 754 binary32 samples (<see cref="ContentTypes.Float32"/>), metadata in headers.</summary>
    Float32,
}

/// <summary>The <c>content-type</c> header values the codec understands.</summary>
public static class ContentTypes
{
    /// <summary>JSON body (the default).</summary>
    public const string Json = "application/json";
    /// <summary>Little-endian float64 samples.</summary>
    public const string Float64 = "application/x-samples-f64";
    /// <summary>Little-endian float32 samples.</summary>
    public const string Float32 = "application/x-samples-f32";

    /// <summary>The header value for <paramref name="format"/>.</summary>
    public static string For(SampleFormat format) => format switch
    {
        SampleFormat.Json => Json,
        SampleFormat.Float64 => Float64,
        SampleFormat.Float32 => Float32,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown sample format."),
    };
}
