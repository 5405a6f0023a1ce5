namespace WebSocketBridge;

/// <summary>
/// The bridge's 429 answers (per-address request rate, connection count and connect rate, filter-state rate): problem+json
/// with the RFC 6585 type, as the framework gives its other statuses (400, 403, 503) an RFC 9110 one; it has none for 429.
/// </summary>
public static class TooManyRequests
{
    /// <summary>RFC 6585 section 4 defines 429 Too Many Requests.</summary>
    public const string ProblemType = "https://tools.ietf.org/html/rfc6585#section-4";

    public static IResult Problem(string title, string detail)
        => Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, type: ProblemType, title: title, detail: detail);
}
