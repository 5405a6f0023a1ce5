using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Route values that may hold any text, '/' included: stream ids (<c>GET /streams/{id}</c> of the processor,
/// <c>GET /streams/{id}/filter</c> of the bridge). Kestrel decodes a request's path before routing except <c>%2F</c>, which
/// it leaves as sent (decoding it would add a segment), so a one-segment route value cannot tell <c>a/b</c> (sent
/// <c>a%2Fb</c>) from <c>a%2Fb</c> (sent <c>a%252Fb</c>): both arrive as <c>a%2Fb</c>. Such a value is read again from the
/// request target as the client sent it and decoded whole.
/// </summary>
public static class DecodedRouteValues
{
    /// <summary>The 400 problem's detail when <see cref="DecodedRouteValue"/> answers null (the stream endpoints of the processor and the bridge).</summary>
    public const string NotUtf8Detail =
        "The stream id's percent-escapes are not UTF-8: escape the id's UTF-8 bytes (Uri.EscapeDataString, encodeURIComponent).";

    /// <summary>
    /// The route value <paramref name="name"/> (a whole segment of the endpoint's pattern), decoded as a client encodes it
    /// with <c>Uri.EscapeDataString</c> or <c>encodeURIComponent</c>; null when its escapes are not UTF-8 (<c>%FF</c>), which no
    /// client makes of any text (Kestrel leaves such a path as sent, so it would name the text "%FF"). When the request
    /// target does not agree with what routing matched (a path rewritten by a middleware), the route value as routing gave it.
    /// </summary>
    public static string? DecodedRouteValue(this HttpContext context, string name)
    {
        var routed = context.Request.RouteValues[name]?.ToString() ?? "";
        if (!routed.Contains('%'))
        {
            return routed; // Kestrel decoded all of it
        }

        if (context.GetEndpoint() is not RouteEndpoint { RoutePattern: var pattern }
            || context.Features.Get<IHttpRequestFeature>()?.RawTarget is not { Length: > 0 } target)
        {
            return routed;
        }

        var index = -1;
        for (var i = 0; i < pattern.PathSegments.Count; i++)
        {
            if (pattern.PathSegments[i].Parts is [RoutePatternParameterPart { IsCatchAll: false } part]
                && string.Equals(part.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                index = i;
            }
        }

        // Counted from the end: a path base before the pattern does not move it.
        var segments = PathOf(target).Split('/');
        var fromEnd = pattern.PathSegments.Count - index;
        if (index < 0 || fromEnd > segments.Length)
        {
            return routed;
        }

        var sent = segments[^fromEnd];
        if (DecodedExceptSlashes(sent) != routed)
        {
            return routed;
        }

        return EscapesAreUtf8(sent) ? Uri.UnescapeDataString(sent) : null;
    }

    /// <summary>Whether the bytes a segment's escapes stand for, with its other characters, are valid UTF-8.</summary>
    private static bool EscapesAreUtf8(string sent)
    {
        var bytes = new List<byte>(sent.Length);
        var start = 0;
        for (var i = 0; i < sent.Length; i++)
        {
            if (sent[i] == '%' && i + 2 < sent.Length && Uri.IsHexDigit(sent[i + 1]) && Uri.IsHexDigit(sent[i + 2]))
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(sent[start..i]));
                bytes.Add(Convert.ToByte(sent.Substring(i + 1, 2), 16));
                i += 2;
                start = i + 1;
            }
        }

        bytes.AddRange(Encoding.UTF8.GetBytes(sent[start..]));
        return System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>The path of a request target (origin form <c>/p?q</c> or absolute form <c>http://h/p?q</c>), without one trailing '/'.</summary>
    private static string PathOf(string target)
    {
        var path = target.AsSpan();
        var query = path.IndexOfAny('?', '#');
        if (query >= 0)
        {
            path = path[..query];
        }

        if (path is not ['/', ..])
        {
            var scheme = path.IndexOf("://", StringComparison.Ordinal);
            var start = scheme < 0 ? -1 : path[(scheme + 3)..].IndexOf('/');
            path = start < 0 ? "/" : path[(scheme + 3 + start)..];
        }

        return path is [.., '/'] && path.Length > 1 ? path[..^1].ToString() : path.ToString();
    }

    /// <summary>What Kestrel makes of a path segment: every escape decoded but <c>%2F</c>.</summary>
    private static string DecodedExceptSlashes(string sent)
    {
        // A multi-byte UTF-8 character's escapes never hold %2F (its bytes are all 0x80 and over), so no cut splits one.
        var decoded = new StringBuilder(sent.Length);
        var start = 0;
        for (var slash = sent.IndexOf("%2F", StringComparison.OrdinalIgnoreCase); slash >= 0; slash = sent.IndexOf("%2F", start, StringComparison.OrdinalIgnoreCase))
        {
            decoded.Append(Uri.UnescapeDataString(sent[start..slash])).Append(sent, slash, 3);
            start = slash + 3;
        }

        return decoded.Append(Uri.UnescapeDataString(sent[start..])).ToString();
    }
}
