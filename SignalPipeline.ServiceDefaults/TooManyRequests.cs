using Microsoft.AspNetCore.Http;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The 429 answers of the gateway and the bridge: problem+json with the RFC 6585 type. ASP.NET fills the type of every
/// other status from its table of RFC links, which has no 429, so a bare <c>Results.Problem(statusCode: 429)</c> would be
/// the one problem without it.
/// </summary>
public static class TooManyRequests
{
    /// <summary>RFC 6585 section 4 defines 429 Too Many Requests.</summary>
    public const string ProblemType = "https://tools.ietf.org/html/rfc6585#section-4";

    public static IResult Problem(string title, string detail)
        => Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, type: ProblemType, title: title, detail: detail);
}
