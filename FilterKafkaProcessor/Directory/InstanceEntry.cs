using System.Text.Json;
using System.Text.Json.Serialization;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// One instance's announcement in the directory topic (key = <see cref="Instance"/>): where it answers HTTP, which input
/// partitions it owns, and when it said so (its clock, Unix ms).
/// </summary>
public sealed record InstanceEntry(string Instance, string Url, IReadOnlyList<int> Partitions, long AtMs)
{
    /// <summary>The record value: <c>{"instance":"a","url":"http://10.0.0.7:8080","partitions":[0,3],"atMs":1764490000000}</c>.</summary>
    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, InstanceEntryJson.Default.InstanceEntry);

    /// <summary>The entry of a record, or null with <paramref name="error"/> for one that is not a valid announcement.</summary>
    public static InstanceEntry? Deserialize(string key, ReadOnlySpan<byte> value, out string? error)
    {
        InstanceEntry? entry;
        try
        {
            entry = JsonSerializer.Deserialize(value, InstanceEntryJson.Default.InstanceEntry);
        }
        catch (JsonException e)
        {
            error = $"not an announcement: {e.Message}";
            return null;
        }

        error = entry switch
        {
            null => "empty announcement",
            _ when entry.Instance != key => $"announces '{entry.Instance}' under key '{key}'",
            _ when !AdvertisedAddress.IsHttpUrl(entry.Url) => $"url '{entry.Url}' is not an absolute http(s) URL",
            _ when entry.Partitions is null || entry.Partitions.Any(p => p < 0) => "partitions missing or negative",
            _ => null,
        };
        return error is null ? entry : null;
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, RespectRequiredConstructorParameters = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(InstanceEntry))]
internal sealed partial class InstanceEntryJson : JsonSerializerContext;
