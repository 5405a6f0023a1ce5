using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace FilterService;

/// <summary>Builds the algorithm service; Program.cs and in-process hosts (tests, benchmarks) share it.</summary>
public static class FilterServiceExtensions
{
    public static WebApplicationBuilder AddFilterService(this WebApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.Services.AddProblemDetails();
        builder.Services.AddOptions<FilterServiceOptions>()
            .BindConfiguration(FilterServiceOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<FilterServiceOptions>>((kestrel, options) =>
            {
                kestrel.Limits.MaxRequestBodySize = options.Value.MaxRequestBodyBytes;
                // The binary form carries the state in X-Filter-State: an rls(64) state is ~45 KB of base64,
                // more than Kestrel's default 32 KB for all request headers.
                kestrel.Limits.MaxRequestHeadersTotalSize = 256 * 1024;
            });
        return builder;
    }

    public static WebApplication MapFilterService(this WebApplication app)
    {
        // Anything unhandled, and bare error statuses (405, unmatched routes), still answer application/problem+json.
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapDefaultEndpoints();
        app.MapFilterEndpoints();
        return app;
    }
}
