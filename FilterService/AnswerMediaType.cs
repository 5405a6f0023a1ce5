using Microsoft.Net.Http.Headers;

namespace FilterService;

/// <summary>
/// Which form a <c>/audio/batch</c> answer takes: JSON or the binary batch, chosen from the request's <c>Accept</c> by
/// quality (RFC 9110, 12.5.1). A media type's quality is that of the most specific range naming it (<c>type/subtype</c>
/// over <c>type/*</c> over <c>*/*</c>), 0 ("not acceptable") when none does; the higher one wins, and on a tie, or
/// without an <c>Accept</c> (absent, empty, or with any element that cannot be parsed, a <c>q</c> that is no number
/// included), the form of the request. When neither form is acceptable the answer is 406.
/// </summary>
public static class AnswerMediaType
{
    private const string Json = "application/json";

    /// <summary>
    /// The ranges of an <c>Accept</c> header, or none when any of it cannot be parsed: ASP.NET's own reading drops the
    /// elements it cannot parse and keeps the rest (<c>text/html, garbage;;;=</c> would be <c>text/html</c> alone, a
    /// 406), and takes a <c>q</c> that is no number as 1.
    /// </summary>
    private static IList<MediaTypeHeaderValue> Ranges(Microsoft.Extensions.Primitives.StringValues accept)
        => MediaTypeHeaderValue.TryParseStrictList(accept, out var ranges)
            && ranges.All(range => range.Quality is not null || !range.Parameters.Any(p => p.Name.Equals("q", StringComparison.OrdinalIgnoreCase)))
            ? ranges
            : [];

    /// <summary>True for the binary batch, false for JSON; throws a 406 <see cref="FilterRequestException"/> when <paramref name="acceptHeader"/> takes neither.</summary>
    public static bool ForBatch(Microsoft.Extensions.Primitives.StringValues acceptHeader, bool binaryRequest)
    {
        var accept = Ranges(acceptHeader);
        if (accept.Count == 0)
        {
            return binaryRequest;
        }

        var binary = Quality(accept, BinaryBatch.MediaType);
        var json = Quality(accept, Json);
        if (binary == 0 && json == 0)
        {
            throw new FilterRequestException(StatusCodes.Status406NotAcceptable, "Not acceptable",
                $"/audio/batch answers {Json} or {BinaryBatch.MediaType} (docs/filter-api.md), and the Accept header "
                + $"'{RequestMediaType.Shorten(string.Join(", ", acceptHeader.ToArray()))}' takes neither (a q=0 type is not acceptable).", "media_type");
        }

        return binary == json ? binaryRequest : binary > json;
    }

    /// <summary>The quality <paramref name="accept"/> gives <paramref name="mediaType"/>: that of its most specific matching range, 0 if none matches.</summary>
    private static double Quality(IList<MediaTypeHeaderValue> accept, string mediaType)
    {
        var slash = mediaType.IndexOf('/');
        var type = mediaType.AsSpan(0, slash);
        var subtype = mediaType.AsSpan(slash + 1);
        var specificity = -1;
        var quality = 0.0;
        foreach (var range in accept)
        {
            // Parameters other than q (a charset, say) do not narrow the match: both forms are answered in one encoding.
            int rangeSpecificity;
            if (range.MatchesAllTypes)
            {
                rangeSpecificity = 0;
            }
            else if (!type.Equals(range.Type.AsSpan(), StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            else if (range.MatchesAllSubTypes)
            {
                rangeSpecificity = 1;
            }
            else if (subtype.Equals(range.SubType.AsSpan(), StringComparison.OrdinalIgnoreCase))
            {
                rangeSpecificity = 2;
            }
            else
            {
                continue;
            }

            var rangeQuality = range.Quality ?? 1;
            if (rangeSpecificity > specificity || (rangeSpecificity == specificity && rangeQuality > quality))
            {
                specificity = rangeSpecificity;
                quality = rangeQuality;
            }
        }

        return quality;
    }
}
