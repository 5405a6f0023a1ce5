using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using FilterGateway;
using FilterService;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// What the gateway adds to one 4096-sample JSON kalman request: the same request to the algorithm service directly
/// (baseline) and through the gateway, both hosted in this process on loopback (Kestrel, real sockets), same run.
/// </summary>
[Config(typeof(Config))]
public class GatewayOverheadBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // In process: the two web apps are started once by GlobalSetup and must live in the measuring process.
            // A short job, but enough iterations that a shared, noisy machine still gives a usable median.
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(5).WithIterationCount(20).WithInvocationCount(128).WithUnrollFactor(1));
            AddColumn(StatisticColumn.Median, StatisticColumn.P95);
        }
    }

    private WebApplication _service = null!;
    private WebApplication _gateway = null!;
    private HttpClient _direct = null!;
    private HttpClient _viaGateway = null!;
    private byte[] _body = null!;

    [Params(4096)]
    public int Samples { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _service = Start(builder => builder.AddFilterService(), app => app.MapFilterService(), []);
        var serviceUrl = AddressOf(_service);
        _gateway = Start(builder => builder.AddFilterGateway(), app => app.MapFilterGateway(),
            new() { ["KALMAN_SERVICE_URL"] = serviceUrl });

        _direct = new HttpClient { BaseAddress = new Uri(serviceUrl) };
        _viaGateway = new HttpClient { BaseAddress = new Uri(AddressOf(_gateway)) };

        var random = new Random(42);
        var text = new StringBuilder("{\"signal\":[");
        for (var i = 0; i < Samples; i++)
        {
            text.Append(i == 0 ? "" : ",").Append((Math.Sin(i * 0.05) + 0.1 * random.NextDouble()).ToString("R", CultureInfo.InvariantCulture));
        }

        _body = Encoding.UTF8.GetBytes(text.Append("]}").ToString());

        // Both paths must work before anything is timed, and both must be past tiered JIT: the service's code is
        // shared by the two paths, and whichever ran first would otherwise pay for its warm-up.
        for (var i = 0; i < 500; i++)
        {
            if (Post(_direct).GetAwaiter().GetResult() != Post(_viaGateway).GetAwaiter().GetResult())
            {
                throw new InvalidOperationException("The gateway's answer differs from the service's.");
            }
        }
    }

    [Benchmark(Baseline = true, Description = "service directly")]
    public Task<int> Direct() => Post(_direct);

    [Benchmark(Description = "through the gateway")]
    public Task<int> ThroughGateway() => Post(_viaGateway);

    private async Task<int> Post(HttpClient client)
    {
        using var content = new ByteArrayContent(_body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync("/kalman/audio/run", content);
        response.EnsureSuccessStatusCode();
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return bytes.Length;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _direct.Dispose();
        _viaGateway.Dispose();
        _gateway.StopAsync().GetAwaiter().GetResult();
        _service.StopAsync().GetAwaiter().GetResult();
    }

    private static WebApplication Start(Action<WebApplicationBuilder> configure, Action<WebApplication> map, Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        // Per-request information logs would be measured too.
        settings["Logging:LogLevel:Default"] = "Warning";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        configure(builder);
        var app = builder.Build();
        map(app);
        app.StartAsync().GetAwaiter().GetResult();
        return app;
    }

    private static string AddressOf(WebApplication app)
        => app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
}
