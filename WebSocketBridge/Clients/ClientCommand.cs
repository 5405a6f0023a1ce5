using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace WebSocketBridge.Clients;

/// <summary>A message a page sends over <c>/ws</c> (see docs/websocket-bridge.md).</summary>
public abstract record ClientCommand
{
    /// <summary>The stream name meaning "every stream, including those not seen yet".</summary>
    public const string AllStreams = "*";

    /// <summary>Most stream ids one message may name.</summary>
    public const int MaxStreams = 1024;

    /// <summary>Longest stream id accepted, in UTF-8 bytes: the codec's, so every stream the bridge can show can be named.</summary>
    public static int MaxStreamIdBytes => SignalPipeline.Messages.DecodeLimits.Default.MaxStreamIdBytes;

    /// <summary>
    /// Most levels of nesting read. A command has two (the object, its <c>streams</c> array); what is deeper is JSON
    /// that is not a command, refused before a document is built for it.
    /// </summary>
    public const int MaxDepth = 8;

    /// <summary>
    /// Reads one client message. On failure <paramref name="error"/> says why and which close code fits:
    /// 1007 for bytes that are not JSON, 1008 for JSON that is not a valid command (nested deeper than
    /// <see cref="MaxDepth"/> included).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, out ClientCommand? command, out ProtocolError? error)
    {
        command = null;
        error = null;
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = MaxDepth });
            document = JsonDocument.ParseValue(ref reader);
            if (reader.BytesConsumed != utf8.Length && !IsWhitespace(utf8[(int)reader.BytesConsumed..]))
            {
                error = ProtocolError.InvalidJson("trailing data after the JSON object");
                document.Dispose();
                return false;
            }
        }
        catch (JsonException)
        {
            error = SyntaxError(utf8) is { } syntax
                ? ProtocolError.InvalidJson(syntax)
                : ProtocolError.Invalid($"nested deeper than {MaxDepth} levels (a command has 2)");
            return false;
        }

        try
        {
            return TryRead(document, out command, out error);
        }
        catch (InvalidOperationException ex)
        {
            // A string that is not valid UTF-8, or escapes a lone surrogate ("\ud800"), is found only when read. Over /ws
            // only the escape gets here: the WebSocket refuses a text message that is not UTF-8 itself.
            error = ProtocolError.InvalidJson(ex.Message);
            return false;
        }
    }

    private static bool TryRead(JsonDocument document, out ClientCommand? command, out ProtocolError? error)
    {
        command = null;
        error = null;

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = ProtocolError.Invalid($"a message is a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}");
                return false;
            }

            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                error = ProtocolError.Invalid("\"type\" (string) is required");
                return false;
            }

            switch (type.GetString())
            {
                case "subscribe":
                    if (!TryReadStreams(root, out var streams, out error)
                        || !TryReadBool(root, "raw", out var raw, out error)
                        || !TryReadPointsPerSecond(root, out var points, out error))
                    {
                        return false;
                    }

                    command = new SubscribeCommand(streams, raw, points);
                    return true;

                case "unsubscribe":
                    if (!TryReadStreams(root, out streams, out error))
                    {
                        return false;
                    }

                    command = new UnsubscribeCommand(streams);
                    return true;

                case "pause":
                    command = new PauseCommand();
                    return true;

                case "resume":
                    command = new ResumeCommand();
                    return true;

                default:
                    error = ProtocolError.Invalid($"unknown type \"{Truncate(type.GetString()!, 40)}\" (subscribe, unsubscribe, pause, resume)");
                    return false;
            }
        }
    }

    private static bool TryReadStreams(JsonElement root, out IReadOnlyList<string> streams, out ProtocolError? error)
    {
        streams = [];
        error = null;
        if (!root.TryGetProperty("streams", out var array) || array.ValueKind != JsonValueKind.Array)
        {
            error = ProtocolError.Invalid("\"streams\" (array of stream ids, or [\"*\"]) is required");
            return false;
        }

        var count = array.GetArrayLength();
        if (count > MaxStreams)
        {
            error = ProtocolError.Invalid($"\"streams\" names {count} streams; at most {MaxStreams}");
            return false;
        }

        var list = new List<string>(count);
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                error = ProtocolError.Invalid($"\"streams\" items are stream ids (strings), item {list.Count} is {item.ValueKind.ToString().ToLowerInvariant()}");
                return false;
            }

            var id = item.GetString()!;
            var bytes = Encoding.UTF8.GetByteCount(id);
            if (bytes is 0 || bytes > MaxStreamIdBytes)
            {
                error = ProtocolError.Invalid($"\"streams\" item {list.Count} has {bytes} UTF-8 bytes; a stream id has 1 to {MaxStreamIdBytes}");
                return false;
            }

            list.Add(id);
        }

        streams = list;
        return true;
    }

    private static bool TryReadBool(JsonElement root, string name, out bool? value, out ProtocolError? error)
    {
        value = null;
        error = null;
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            error = ProtocolError.Invalid($"\"{name}\" is a boolean");
            return false;
        }

        value = element.GetBoolean();
        return true;
    }

    private static bool TryReadPointsPerSecond(JsonElement root, out int? value, out ProtocolError? error)
    {
        value = null;
        error = null;
        if (!root.TryGetProperty("points_per_second", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var points) || points < 1)
        {
            error = ProtocolError.Invalid("\"points_per_second\" is a positive integer");
            return false;
        }

        value = points;
        return true;
    }

    /// <summary>
    /// Why <paramref name="utf8"/> is not one JSON value, read at any depth; null when it is one. The reader's error does
    /// not say whether it met bad syntax or only the depth limit, so a message that failed is read again, without a
    /// document, to tell the two apart (it is at most Bridge:MaxClientMessageBytes, and its client is closed next).
    /// </summary>
    private static string? SyntaxError(ReadOnlySpan<byte> utf8)
    {
        // A value cannot be nested deeper than it has bytes.
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = Math.Max(utf8.Length, 1) });
        try
        {
            while (reader.Read())
            {
            }

            return null;
        }
        catch (JsonException ex)
        {
            return ex.Message;
        }
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> rest)
    {
        foreach (var b in rest)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Truncate(string value, int length) => value.Length <= length ? value : value[..length] + "...";
}

/// <summary>Adds streams to the subscription; optionally switches raw (undecimated) mode or lowers the point budget.</summary>
public sealed record SubscribeCommand(IReadOnlyList<string> Streams, bool? Raw = null, int? PointsPerSecond = null) : ClientCommand;

/// <summary>Removes streams from the subscription; <c>"*"</c> removes all.</summary>
public sealed record UnsubscribeCommand(IReadOnlyList<string> Streams) : ClientCommand;

/// <summary>Stops frames until <see cref="ResumeCommand"/>; data in between is not queued.</summary>
public sealed record PauseCommand : ClientCommand;

public sealed record ResumeCommand : ClientCommand;

/// <summary>Why a client message was refused, and the close code sent with it.</summary>
public sealed record ProtocolError(WebSocketCloseStatus Status, string Reason)
{
    /// <summary>RFC 6455 allows 123 bytes of UTF-8 in a close frame's reason.</summary>
    public const int MaxReasonBytes = 123;

    public static ProtocolError InvalidJson(string detail) => new(WebSocketCloseStatus.InvalidPayloadData, Fit("malformed JSON: " + detail));

    public static ProtocolError Invalid(string detail) => new(WebSocketCloseStatus.PolicyViolation, Fit("invalid message: " + detail));

    /// <summary>Cuts <paramref name="reason"/> to fit a close frame without splitting a character.</summary>
    public static string Fit(string reason)
    {
        if (Encoding.UTF8.GetByteCount(reason) <= MaxReasonBytes)
        {
            return reason;
        }

        var length = reason.Length;
        while (length > 0 && Encoding.UTF8.GetByteCount(reason.AsSpan(0, length)) > MaxReasonBytes - 3)
        {
            length--;
        }

        if (length > 0 && char.IsHighSurrogate(reason[length - 1]))
        {
            length--;
        }

        return reason[..length] + "...";
    }
}
