using Microsoft.AspNetCore.Http.Timeouts;
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
        builder.Services.AddSingleton<IValidateOptions<FilterServiceOptions>, FilterServiceOptionsValidator>();
        builder.Services.AddOptions<FilterServiceOptions>()
            .BindConfiguration(FilterServiceOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<FilterServiceMetrics>();
        builder.Services.AddSingleton<RequestAdmission>();

        // Bodies of up to 16 MiB: fewer, larger receives (docs/filter-api.md, "Limits").
        builder.Services.AddLargeKestrelBlocks();
        builder.Services.AddKestrelReadAhead<FilterServiceOptions>(options => options.MaxReadAheadBytes);
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<FilterServiceOptions>>((kestrel, options) =>
            {
                kestrel.Limits.MaxRequestBodySize = options.Value.MaxRequestBodyBytes;
                kestrel.Limits.MaxConcurrentConnections = options.Value.MaxConnections;
                // The binary form carries the state in X-Filter-State: an rls(64) state is ~45 KB of base64,
                // more than Kestrel's default 32 KB for all request headers.
                kestrel.Limits.MaxRequestHeadersTotalSize = options.Value.MaxRequestHeadersBytes;
            });

        builder.Services.AddRequestTimeouts();
        builder.Services.AddOptions<RequestTimeoutOptions>()
            .Configure<IOptions<FilterServiceOptions>, FilterServiceMetrics>((timeouts, options, metrics) =>
                timeouts.DefaultPolicy = new RequestTimeoutPolicy
                {
                    Timeout = options.Value.RequestTimeout,
                    WriteTimeoutResponse = context =>
                    {
                        metrics.Rejected("timeout");
                        context.Response.Headers.RetryAfter = "1";
                        return Results.Problem(
                            $"The request took longer than {options.Value.RequestTimeout.TotalSeconds:0.###} s (FilterService:RequestTimeout) "
                            + "and was stopped: send fewer samples per request.",
                            statusCode: StatusCodes.Status503ServiceUnavailable, title: "Request timed out").ExecuteAsync(context);
                    },
                });
        return builder;
    }

    public static WebApplication MapFilterService(this WebApplication app)
    {
        // Anything unhandled, and bare error statuses (405, unmatched routes), still answer application/problem+json.
        app.UseExceptionHandler();
        app.UseProblemStatusPages();
        // Admission first: time spent queued is bounded by FilterService:RequestQueueTimeout, not by the request timeout.
        var admission = app.Services.GetRequiredService<RequestAdmission>();
        app.Use((context, next) => admission.InvokeAsync(context, next));
        app.UseRequestTimeouts();
        app.MapDefaultEndpoints();
        app.MapFilterEndpoints();
        return app;
    }
}
