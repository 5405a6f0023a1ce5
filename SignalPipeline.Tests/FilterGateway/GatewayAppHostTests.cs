using System.Net;
using System.Text;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The AppHost started with <c>KALMAN_SERVICE_URL</c> pointing at a stand-in service run by the test, and with small
/// body limits (filter-rls 2 KiB, gateway 64 KiB) so the 413 paths can be seen.
/// </summary>
public sealed class RedirectedGatewayFixture : AppHostFixture, IAsyncLifetime
{
    public const long RlsBodyLimit = 2048;
    public const long GatewayBodyLimit = 64 * 1024;

    private InProcessHost? _standIn;

    public const string Marker = "stand-in kalman service";

    public InProcessHost StandIn => _standIn ?? throw new InvalidOperationException("Not started.");

    protected override string[] AppHostArgs => [$"KALMAN_SERVICE_URL={StandIn.Address}"];

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        SetEnvironment(builder, "filter-rls", "FilterService__MaxRequestBodyBytes", RlsBodyLimit.ToString());
        SetEnvironment(builder, "filter-gateway", "FilterGateway__MaxRequestBodyBytes", GatewayBodyLimit.ToString());
    }

    private static void SetEnvironment(IDistributedApplicationTestingBuilder builder, string resource, string name, string value)
        => builder.Resources.OfType<IResourceWithEnvironment>().Single(r => r.Name == resource)
            .Annotations.Add(new EnvironmentCallbackAnnotation(env => env[name] = value));

    public new async Task InitializeAsync()
    {
        _standIn = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(context =>
            context.Response.WriteAsJsonAsync(new { marker = Marker, path = context.Request.Path.Value })));
        await base.InitializeAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_standIn is not null)
        {
            await _standIn.DisposeAsync();
        }
    }
}

[Trait("Category", TestCategory.AppHost)]
public sealed class GatewayAppHostTests(RedirectedGatewayFixture shared, ITestOutputHelper output) : IClassFixture<RedirectedGatewayFixture>, IAsyncLifetime
{
    private readonly RedirectedGatewayFixture fixture = shared.WithTestOutput(output);
    private HttpClient _gateway = null!;

    public async Task InitializeAsync()
    {
        await fixture.WaitForHealthyAsync("filter-gateway");
        _gateway = fixture.CreateHttpClient("filter-gateway");
    }

    public Task DisposeAsync()
    {
        _gateway.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task KalmanServiceUrlRedirectsTheGateway()
    {
        using var response = await PostJsonAsync(_gateway, "/kalman/audio/run", """{"signal": [0.2, 0.9, -0.8, 0.7, -0.6]}""");
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var json = JsonDocument.Parse(text);
        Assert.Equal(RedirectedGatewayFixture.Marker, json.RootElement.GetProperty("marker").GetString());
        Assert.Equal("/kalman/audio/run", json.RootElement.GetProperty("path").GetString());

        // Only kalman moved: rls is still the AppHost's own service.
        var (filtered, _) = await RunAsync(_gateway, "rls", [0.2, 0.9, -0.8, 0.7, -0.6]);
        AssertBitIdentical(Reference("rls", [0.2, 0.9, -0.8, 0.7, -0.6]), filtered);
    }

    [Fact]
    public async Task TheServicesBodyLimitAnswers413ThroughTheGatewayAndDirectly()
    {
        var body = RunBody(TestSignal(300, seed: 2));
        Assert.InRange(Encoding.UTF8.GetByteCount(body), RedirectedGatewayFixture.RlsBodyLimit + 1, RedirectedGatewayFixture.GatewayBodyLimit);

        using var service = fixture.CreateHttpClient("filter-rls");
        foreach (var client in new[] { _gateway, service })
        {
            using var response = await PostJsonAsync(client, "/rls/audio/run", body);
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxRequestBodyBytes");

            // Chunked, so only Kestrel's limit while reading can catch it.
            using var chunked = new HttpRequestMessage(HttpMethod.Post, "/rls/audio/run")
            {
                Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))),
            };
            chunked.Content.Headers.ContentType = new("application/json");
            chunked.Headers.TransferEncodingChunked = true;
            using var chunkedResponse = await client.SendAsync(chunked).WaitAsync(CallTimeout);
            await AssertProblemAsync(chunkedResponse, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxRequestBodyBytes");

            var (filtered, _) = await RunAsync(client, "rls", [0.2, 0.9, -0.8]);
            AssertBitIdentical(Reference("rls", [0.2, 0.9, -0.8]), filtered);
        }
    }

    [Fact]
    public async Task TheGatewaysBodyLimitAnswers413BeforeTheService()
    {
        var body = RunBody(TestSignal(5000, seed: 4));
        Assert.True(Encoding.UTF8.GetByteCount(body) > RedirectedGatewayFixture.GatewayBodyLimit);

        using var response = await PostJsonAsync(_gateway, "/ls/audio/run", body);
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "FilterGateway:MaxRequestBodyBytes");

        // The ls service itself (16 MiB default) takes the same body.
        using var service = fixture.CreateHttpClient("filter-ls");
        var (filtered, _) = await RunAsync(service, "ls", TestSignal(5000, seed: 4));
        AssertBitIdentical(Reference("ls", TestSignal(5000, seed: 4)), filtered);
    }
}
