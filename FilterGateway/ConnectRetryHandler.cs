using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace FilterGateway;

/// <summary>
/// Retries a forwarded request whose connection to the service could not be established (the service restarting,
/// a replica going away, its name not resolved yet: a Service's DNS record just created or a resolver's hiccup; until
/// 2026-12-06 a name that did not resolve got one attempt, while the 502 said ConnectRetries + 1). That is safe for every method here, POST included: the filter endpoints are pure functions
/// of the request (the stream's state travels with it, nothing is stored), and a connection that never opened sent
/// nothing, so the request body has not been read yet. Failures after the request started are not retried.
/// </summary>
public sealed class ConnectRetryHandler(int retries, TimeSpan delay) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                                                   && attempt < retries
                                                   && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(delay * (attempt + 1), cancellationToken);
            }
        }
    }
}

/// <summary>YARP's client factory with <see cref="ConnectRetryHandler"/> in front of each cluster's handler.</summary>
public sealed class RetryingForwarderHttpClientFactory(IOptions<FilterGatewayOptions> options) : ForwarderHttpClientFactory
{
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
        => new ConnectRetryHandler(options.Value.ConnectRetries, TimeSpan.FromMilliseconds(100))
        {
            InnerHandler = base.WrapHandler(context, handler),
        };
}
