using System.Net;
using FilterGateway;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>Gateway settings are checked at start, naming the bad one; the connect retry only retries what is safe.</summary>
public sealed class GatewaySettingsTests
{
    [Theory]
    [InlineData("KALMAN_SERVICE_URL", "ftp://filters.example:21")]
    [InlineData("RLS_SERVICE_URL", "filter-rls:8000")]
    [InlineData("LS_SERVICE_URL", "/ls")]
    [InlineData("LMS_SERVICE_URL", "http://")]
    public void ABadServiceUrlIsRejectedNamingTheSetting(string setting, string value)
    {
        var options = new ServiceUrlOptions();
        ServiceUrlOptions.Bind(options, new ConfigurationBuilder().AddInMemoryCollection([new(setting, value)]).Build());

        var result = new ServiceUrlOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage);
        Assert.Contains(value, result.FailureMessage);
    }

    [Theory]
    [InlineData("MaxRequestBodyBytes", "0", "FilterGateway:MaxRequestBodyBytes = 0 is out of range")]
    [InlineData("RateLimitPermitsPerSecond", "-1", "FilterGateway:RateLimitPermitsPerSecond = -1 is out of range")]
    [InlineData("RateLimitBurst", "-5", "FilterGateway:RateLimitBurst = -5 is out of range")]
    [InlineData("ConnectRetries", "11", "FilterGateway:ConnectRetries = 11 is out of range [0, 10]")]
    [InlineData("HealthCheckInterval", "00:00:00", "FilterGateway:HealthCheckInterval = 00:00:00 is out of range [00:00:00.001, 1.00:00:00]")]
    [InlineData("HealthCheckTimeout", "-00:00:01", "FilterGateway:HealthCheckTimeout = -00:00:01 is out of range")]
    [InlineData("ForwardActivityTimeout", "2.00:00:00", "FilterGateway:ForwardActivityTimeout = 2.00:00:00 is out of range")]
    [InlineData("MaxConcurrentLargeRequests", "-1", "FilterGateway:MaxConcurrentLargeRequests = -1 is out of range [0, 1024]")]
    [InlineData("MaxLargeRequestsPerAddress", "0", "FilterGateway:MaxLargeRequestsPerAddress = 0 is out of range [1, 100000]")]
    [InlineData("LargeRequestQueueTimeout", "00:11:00", "FilterGateway:LargeRequestQueueTimeout = 00:11:00 is out of range")]
    [InlineData("RefusalsPerAddress", "-1", "FilterGateway:RefusalsPerAddress = -1 is out of range [0, 1000000]")]
    [InlineData("MaxConnections", "0", "FilterGateway:MaxConnections = 0 is out of range [1, 1000000]")]
    [InlineData("MaxConnectionsPerAddress", "0", "FilterGateway:MaxConnectionsPerAddress = 0 is out of range [1, 1000000]")]
    [InlineData("RefusalWindow", "00:00:00.5", "FilterGateway:RefusalWindow = 00:00:00.5000000 is out of range [00:00:01, 01:00:00]")]
    // A bare number is days to .NET's TimeSpan parse: the message says so and gives the form meant.
    [InlineData("RefusalWindow", "30", "FilterGateway:RefusalWindow = 30.00:00:00 is out of range [00:00:01, 01:00:00]. A bare number is days in a time span: for 30 s write 00:00:30.")]
    [InlineData("RequestBodyTimeout", "00:00:00.5", "FilterGateway:RequestBodyTimeout = 00:00:00.5000000 is out of range [00:00:01, 01:00:00]")]
    // The other ranges docs/filter-api.md's gateway table gives, each just past its bound.
    [InlineData("LargeRequestBytes", "-1", "FilterGateway:LargeRequestBytes = -1 is out of range")]
    [InlineData("LargeRequestQueueLimit", "100001", "FilterGateway:LargeRequestQueueLimit = 100001 is out of range [0, 100000]")]
    [InlineData("MaxHeldRefusals", "-1", "FilterGateway:MaxHeldRefusals = -1 is out of range [0, 1000000]")]
    [InlineData("ProbesPerAddressPerSecond", "1000001", "FilterGateway:ProbesPerAddressPerSecond = 1000001 is out of range [0, 1000000]")]
    [InlineData("MaxTrackedAddresses", "0", "FilterGateway:MaxTrackedAddresses = 0 is out of range [1, 10000000]")]
    [InlineData("RefusalDelay", "00:01:01", "FilterGateway:RefusalDelay = 00:01:01 is out of range [00:00:00, 00:01:00]")]
    [InlineData("MaxRequestHeadersBytes", "16383", "FilterGateway:MaxRequestHeadersBytes = 16383 is out of range [16384, 16777216]")]
    [InlineData("MaxReadAheadBytes", "32767", "FilterGateway:MaxReadAheadBytes = 32767 is out of range [32768, 67108864]")]
    [InlineData("LargeBodyMinBytesPerSecond", "1073741825", "FilterGateway:LargeBodyMinBytesPerSecond = 1073741825 is out of range [0, 1073741824]")]
    [InlineData("LargeBodyMinRateGracePeriod", "00:10:01", "FilterGateway:LargeBodyMinRateGracePeriod = 00:10:01 is out of range [00:00:01.001, 00:10:00]")]
    public void ABadGatewaySettingIsRejectedNamingIt(string setting, string value, string message)
    {
        var options = new FilterGatewayOptions();
        new ConfigurationBuilder().AddInMemoryCollection([new(setting, value)]).Build().Bind(options);

        var result = new FilterGatewayOptionsValidator().Validate(null, options);

        Assert.True(result.Failed, $"{setting} = {value} passed");
        Assert.Contains(message, result.FailureMessage);
    }

    [Theory]
    [InlineData("200", "100", false)]
    [InlineData("200", "199", false)]
    [InlineData("200", "200", true)]
    [InlineData("200", "400", true)]
    [InlineData("200", "0", true)] // 0: the burst is the rate
    [InlineData("0", "5", true)] // the rate limit off: the burst is not used
    public void ABurstBelowTheRateIsRejectedNamingBothSettings(string rate, string burst, bool valid)
    {
        // The bucket holds at most the burst and is refilled by whole seconds: a burst of 100 at a rate of 200 would
        // let a client make 100 requests a second, not the 200 set (docs/filter-api.md, FilterGateway:RateLimitBurst).
        var options = new FilterGatewayOptions();
        new ConfigurationBuilder().AddInMemoryCollection([new("RateLimitPermitsPerSecond", rate), new("RateLimitBurst", burst)]).Build().Bind(options);

        var result = new FilterGatewayOptionsValidator().Validate(null, options);

        Assert.True(result.Succeeded == valid, $"rate {rate}, burst {burst}: {result.FailureMessage}");
        if (!valid)
        {
            Assert.Contains($"FilterGateway:RateLimitBurst = {burst} is below FilterGateway:RateLimitPermitsPerSecond = {rate}", result.FailureMessage);
        }
    }

    [Fact]
    public void AbsoluteHttpUrlsAndUnsetSettingsPass()
    {
        var options = new ServiceUrlOptions { Urls = { ["kalman"] = "http://10.0.0.5:8000", ["rls"] = "https://filters.example/" } };
        Assert.True(new ServiceUrlOptionsValidator().Validate(null, options).Succeeded);
        Assert.True(new FilterGatewayOptionsValidator().Validate(null, new FilterGatewayOptions()).Succeeded);
    }

    [Fact]
    public async Task TheGatewayStopsAtStartWithAMessageNamingTheBadSetting()
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var gateway = await StartGatewayAsync(new Dictionary<string, string?> { ["KALMAN_SERVICE_URL"] = "kalman.example:8000" });
        });

        Assert.NotNull(ex);
        var validation = Assert.IsType<OptionsValidationException>(ex is AggregateException aggregate ? aggregate.InnerException : ex);
        Assert.Contains("KALMAN_SERVICE_URL 'kalman.example:8000' is not an absolute http(s) URL", validation.Message);
    }

    [Theory]
    [InlineData("FilterGateway:MaxRequestBodyBytes", "-5")]
    [InlineData("FilterGateway:LargeBodyMinBytesPerSecond", "-1")]
    [InlineData("FilterGateway:LargeBodyMinRateGracePeriod", "00:00:01")] // Kestrel checks rates once a second: the grace must be longer
    public async Task ABadGatewayLimitStopsItAtStartNamingTheSetting(string setting, string value)
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var gateway = await StartGatewayAsync(new Dictionary<string, string?> { [setting] = value });
        });

        Assert.NotNull(ex);
        Assert.Contains(setting, (ex is AggregateException aggregate ? aggregate.InnerException! : ex).Message);
    }

    [Theory]
    [InlineData(HttpRequestError.ConnectionError)]
    [InlineData(HttpRequestError.NameResolutionError)] // one attempt until 2026-12-06, while the 502 said ConnectRetries + 1
    public async Task AConnectionFailureIsRetriedAndThenSucceeds(HttpRequestError failure)
    {
        var inner = new ScriptedHandler(
            () => throw new HttpRequestException(failure, "no connection"),
            () => new HttpResponseMessage(HttpStatusCode.OK));
        using var invoker = new HttpMessageInvoker(new ConnectRetryHandler(2, TimeSpan.FromMilliseconds(1)) { InnerHandler = inner });

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Post, "http://filter-kalman/kalman/audio/run"), default)
            .WaitAsync(InProcessHost.Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task FailuresAfterTheConnectionOpenedAreNotRetried()
    {
        var inner = new ScriptedHandler(
            () => throw new HttpRequestException(HttpRequestError.ResponseEnded, "server closed mid-response"),
            () => new HttpResponseMessage(HttpStatusCode.OK));
        using var invoker = new HttpMessageInvoker(new ConnectRetryHandler(2, TimeSpan.FromMilliseconds(1)) { InnerHandler = inner });

        await Assert.ThrowsAsync<HttpRequestException>(() =>
            invoker.SendAsync(new HttpRequestMessage(HttpMethod.Post, "http://filter-kalman/kalman/audio/run"), default).WaitAsync(InProcessHost.Timeout));
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task RetriesStopAfterTheConfiguredCount()
    {
        var inner = new ScriptedHandler(Enumerable.Repeat<Func<HttpResponseMessage>>(
            () => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused"), 5).ToArray());
        using var invoker = new HttpMessageInvoker(new ConnectRetryHandler(2, TimeSpan.FromMilliseconds(1)) { InnerHandler = inner });

        await Assert.ThrowsAsync<HttpRequestException>(() =>
            invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://filter-kalman/algorithms"), default).WaitAsync(InProcessHost.Timeout));
        Assert.Equal(3, inner.Calls);
    }

    internal static Task<InProcessHost> StartGatewayAsync(IDictionary<string, string?> settings)
        => InProcessHost.StartAsync(settings, builder => builder.AddFilterGateway(), app => app.MapFilterGateway());

    private sealed class ScriptedHandler(params Func<HttpResponseMessage>[] steps) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => Task.FromResult(steps[Calls++]());
    }
}
