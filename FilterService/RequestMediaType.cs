using Microsoft.Net.Http.Headers;

namespace FilterService;

/// <summary>
/// Which form a request body is in, from its Content-Type. Only the documented types are read: anything else gets 415,
/// so a cross-site <c>text/plain</c> or form POST (which browsers send without a CORS preflight) is never parsed as JSON.
/// A missing Content-Type is read as JSON, as the original services did.
/// </summary>
public static class RequestMediaType
{
    /// <summary><c>/audio/run</c>: true for <c>application/octet-stream</c>, false for JSON.</summary>
    public static bool ForRun(string? contentType)
        => Resolve(contentType, FilterResponseWriter.BinaryContentType,
            $"/audio/run takes application/json or {FilterResponseWriter.BinaryContentType} (docs/filter-api.md)");

    /// <summary><c>/audio/batch</c>: true for the binary batch, false for JSON.</summary>
    public static bool ForBatch(string? contentType)
        => Resolve(contentType, BinaryBatch.MediaType,
            $"/audio/batch takes application/json or {BinaryBatch.MediaType} (docs/filter-api.md)");

    private static bool Resolve(string? contentType, string binaryType, string accepted)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return false;
        }

        if (MediaTypeHeaderValue.TryParse(contentType, out var parsed))
        {
            var type = parsed.MediaType.Value ?? "";
            if (string.Equals(type, binaryType, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (string.Equals(type, "application/json", StringComparison.OrdinalIgnoreCase)
                || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
            {
                return false;
            }
        }

        throw new FilterRequestException(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
            $"{accepted}, not '{Shorten(contentType)}'.", "media_type");
    }

    /// <summary>A header value as quoted in a message: at most 100 characters of it.</summary>
    internal static string Shorten(string value) => value.Length <= 100 ? value : value[..100] + "...";
}
