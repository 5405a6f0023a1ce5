namespace FilterService;

/// <summary>A request the service refuses; becomes an <c>application/problem+json</c> response.</summary>
public sealed class FilterRequestException(int statusCode, string title, string detail) : Exception(detail)
{
    public int StatusCode { get; } = statusCode;

    public string Title { get; } = title;

    public static FilterRequestException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, "Invalid filter request", detail);
}
