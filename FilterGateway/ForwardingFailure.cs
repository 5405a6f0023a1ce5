using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace FilterGateway;

/// <summary>
/// The gateway's 502 and 504 when the service failed it: YARP sets the bare status, which the status pages turned into a
/// problem with no detail (<c>"title":"Bad Gateway"</c>), so a client could not tell a service it could not reach from
/// one that broke off its answer or went silent, nor which service, and no instrument counted them. Here each gets a
/// detail naming the service, what happened and the setting that bounded it, and is counted in
/// <c>signalpipeline.gateway.forward_errors{reason}</c>. Errors of the client's own making (its body, its going away)
/// are left to <see cref="RequestBodyDeadline"/> and YARP: they are not the service's failures.
/// </summary>
public sealed class ForwardingFailure(IOptions<FilterGatewayOptions> options, GatewayMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        await next();

        var error = context.Features.Get<IForwarderErrorFeature>();
        if (context.Response.HasStarted)
        {
            // The service's answer broke off after it had begun (its status and headers are the client's already): YARP
            // can only cut the client's connection, which it does. Nothing to answer, but counted, or a service that
            // fails mid-answer would show in no instrument of the gateway.
            if (error is { Error: ForwarderError.ResponseBodyDestination })
            {
                metrics.ForwardFailed("answer_cut");
            }

            return;
        }

        if (context.RequestAborted.IsCancellationRequested || error is null)
        {
            return;
        }

        var service = context.GetReverseProxyFeature().Route.Config.ClusterId;
        var settings = options.Value;
        (string Reason, int Status, string Title, string Detail)? failure = error.Error switch
        {
            ForwarderError.RequestTimedOut => ("timeout", StatusCodes.Status504GatewayTimeout, "Service timed out",
                $"The '{service}' service sent nothing for {settings.ForwardActivityTimeout.TotalSeconds:0.###} s "
                + "(FilterGateway:ForwardActivityTimeout) and the request was stopped. Retry later, or send fewer samples per request."),
            ForwarderError.Request when IsConnectFailure(error.Exception) => ("connect", StatusCodes.Status502BadGateway, "Service unreachable",
                $"The '{service}' service could not be reached: no connection after {settings.ConnectRetries + 1} attempt(s) "
                + "(FilterGateway:ConnectRetries). Retry later."),
            ForwarderError.Request or ForwarderError.RequestBodyDestination => ("service_failed", StatusCodes.Status502BadGateway, "Service failed",
                $"The '{service}' service closed the connection or failed before its answer was whole; the request was not retried "
                + "(it may have been partly sent). Retry later."),
            _ => null,
        };
        if (failure is not { } f || context.Response.StatusCode != f.Status)
        {
            return;
        }

        context.Response.Clear();
        metrics.ForwardFailed(f.Reason);
        await Results.Problem(f.Detail, statusCode: f.Status, title: f.Title).ExecuteAsync(context);
    }

    private static bool IsConnectFailure(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError })
            {
                return true;
            }
        }

        return false;
    }
}
