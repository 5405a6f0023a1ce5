namespace FilterService;

/// <summary>A request the service refuses; becomes an <c>application/problem+json</c> response.</summary>
public sealed class FilterRequestException(int statusCode, string title, string detail, string? limit = null) : Exception(detail)
{
    public int StatusCode { get; } = statusCode;

    public string Title { get; } = title;

    /// <summary>The limit that refused the request (the metric's tag), or null for a malformed request.</summary>
    public string? Limit { get; } = limit;

    public static FilterRequestException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, "Invalid filter request", detail);

    /// <summary>413 for a request over one of the service's size limits; the detail names the setting.</summary>
    public static FilterRequestException TooLarge(string limit, string detail) => new(StatusCodes.Status413PayloadTooLarge, "Request too large", detail, limit);
}
