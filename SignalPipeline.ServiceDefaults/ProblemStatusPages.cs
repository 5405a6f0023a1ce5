using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Bare statuses (an unmatched route's 404, a wrong method's 405, a proxy's 502/504 without a body) as
/// <c>application/problem+json</c> whatever the request's <c>Accept</c>. <c>UseStatusCodePages()</c> writes them through
/// <see cref="IProblemDetailsService"/>, whose JSON writer declines a request that does not accept JSON (a browser's
/// <c>text/html</c>), and then answers <c>text/plain</c>; <see cref="Results.Problem(string?, string?, int?, string?, string?, IDictionary{string, object?}?)"/>
/// falls back to writing the JSON itself.
/// </summary>
public static class ProblemStatusPages
{
    public static IApplicationBuilder UseProblemStatusPages(this IApplicationBuilder app)
        => app.UseStatusCodePages(context => Results.Problem(statusCode: context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
}
