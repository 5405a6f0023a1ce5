using System.ComponentModel.DataAnnotations;

namespace FilterService;

/// <summary>Settings of the algorithm service (configuration section <c>FilterService</c>).</summary>
public sealed class FilterServiceOptions
{
    public const string SectionName = "FilterService";

    /// <summary>Largest accepted request body in bytes (<c>FilterService:MaxRequestBodyBytes</c>); larger bodies get 413.</summary>
    [Range(1, long.MaxValue, ErrorMessage = "FilterService:MaxRequestBodyBytes must be a positive number of bytes.")]
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;
}
