using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FilterGateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The gateway in process in front of stand-in services that say who they are: routing (settings and service
/// discovery), trace propagation, body limit and rate limiting, without starting the AppHost.
/// </summary>
public sealed class GatewayForwardingTests : IAsyncLifetime
{
    private readonly Dictionary<string, InProcessHost> _backends = [];

    // Every body a stand-in read to its end: backend, path and length.
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Backend, string Path, long Bytes)> _bodiesRead = new();

    public async Task InitializeAsync()
    {
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            _backends[name] = await StartBackendAsync(name);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var backend in _backends.Values)
        {
            await backend.DisposeAsync();
        }
    }

    private Dictionary<string, string?> Settings(params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = _backends["a"].Address.ToString(),
            // What the AppHost's WithReference gives the gateway: service discovery finds http://filter-rls here.
            ["services:filter-rls:http:0"] = _backends["b"].Address.ToString(),
            ["services:filter-ls:http:0"] = _backends["c"].Address.ToString(),
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Fact]
    public async Task EachAlgorithmGoesToItsServiceAndLmsToTheLsDeployment()
    {
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings());
        using var client = gateway.CreateClient();

        Assert.Equal(("a", "/kalman/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/kalman/audio/run"));
        Assert.Equal(("b", "/rls/audio/batch"), await WhoAnswersAsync(client, HttpMethod.Post, "/rls/audio/batch"));
        Assert.Equal(("c", "/ls/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/ls/audio/run"));
        Assert.Equal(("c", "/lms/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/lms/audio/run"));
        Assert.Equal(("a", "/algorithms"), await WhoAnswersAsync(client, HttpMethod.Get, "/algorithms"));

        using var unrouted = await client.PostAsync("/median/audio/run", new StringContent("{}")).WaitAsync(InProcessHost.Timeout);
        await FilterApi.AssertProblemAsync(unrouted, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task BinaryBatchReachesTheServiceUnchanged()
    {
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings());
        using var client = gateway.CreateClient();
        var body = FilterApi.BinaryBatchBody((FilterApi.TestSignal(3000, seed: 4), [1, 2, 3, 0, 255]), (FilterApi.TestSignal(10, seed: 5), null));
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new(FilterApi.BatchMediaType);
        using var response = await client.PostAsync("/rls/audio/batch?order=4&lambda=0.995", content).WaitAsync(InProcessHost.Timeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(InProcessHost.Timeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        Assert.Equal("b", json.RootElement.GetProperty("backend").GetString());
        Assert.Equal("/rls/audio/batch", json.RootElement.GetProperty("path").GetString());
        Assert.Equal("?order=4&lambda=0.995", json.RootElement.GetProperty("query").GetString());
        Assert.Equal(FilterApi.BatchMediaType, json.RootElement.GetProperty("content_type").GetString());
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), json.RootElement.GetProperty("body_sha256").GetString());
    }

    [Fact]
    public async Task LmsServiceUrlTakesLmsElsewhere()
    {
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings(("LMS_SERVICE_URL", _backends["d"].Address.ToString())));
        using var client = gateway.CreateClient();

        Assert.Equal(("d", "/lms/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/lms/audio/run"));
        Assert.Equal(("c", "/ls/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/ls/audio/run"));
    }

    [Fact]
    public async Task TheClientsTraceContinuesIntoTheService()
    {
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings());
        using var client = gateway.CreateClient();

        // The client's own span: its HttpClient sends a traceparent of this trace.
        using var source = new ActivitySource("SignalPipeline.Tests.TraceClient");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var clientSpan = source.StartActivity("filter call", ActivityKind.Client);
        Assert.NotNull(clientSpan);

        using var response = await client.PostAsync("/kalman/audio/run", new StringContent("{}")).WaitAsync(InProcessHost.Timeout);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync().WaitAsync(InProcessHost.Timeout));

        // 00-<trace id>-<parent span>-<flags>: the client's trace, with the gateway's forwarding span as the parent.
        var seen = json.RootElement.GetProperty("traceparent").GetString()!;
        var parts = seen.Split('-');
        Assert.True(parts.Length == 4 && parts[1] == clientSpan.TraceId.ToString(),
            $"the client's trace is {clientSpan.TraceId}, the service saw traceparent '{seen}'");
        Assert.NotEqual(clientSpan.SpanId.ToString(), parts[2]);
    }

    [Fact]
    public async Task BodiesOverTheLimitGet413WhetherDeclaredOrChunked()
    {
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings(("FilterGateway:MaxRequestBodyBytes", "1000")));
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var client = gateway.CreateClient();
        var large = Encoding.UTF8.GetBytes(FilterApi.RunBody(FilterApi.TestSignal(200, seed: 1)));

        using var declared = await client.PostAsync("/kalman/audio/run", new ByteArrayContent(large)).WaitAsync(InProcessHost.Timeout);
        // Word for word as docs/filter-api.md quotes it (there with the default, 16777216 bytes).
        await FilterApi.AssertProblemAsync(declared, HttpStatusCode.RequestEntityTooLarge,
            "The request body exceeds the gateway's limit (FilterGateway:MaxRequestBodyBytes) of 1000 bytes.");
        Assert.Equal(1, rejected.Sum(("reason", "body_bytes")));

        // No Content-Length: Kestrel stops the body at the limit while YARP is already forwarding it. The rest of the
        // body cannot be read any more, so the gateway answers 413 and closes while the client may still be sending:
        // the client then either reads the 413 or sees the connection reset (TCP drops the unread answer). Either
        // way the whole body never reaches the service, which is what this checks; anything else fails.
        var chunkedContent = new StreamContent(new MemoryStream(large));
        using var chunkedRequest = new HttpRequestMessage(HttpMethod.Post, "/rls/audio/run") { Content = chunkedContent };
        chunkedRequest.Headers.TransferEncodingChunked = true;
        try
        {
            using var chunked = await client.SendAsync(chunkedRequest).WaitAsync(InProcessHost.Timeout);
            await FilterApi.AssertProblemAsync(chunked, HttpStatusCode.RequestEntityTooLarge, "FilterGateway:MaxRequestBodyBytes");
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.Unknown)
        {
        }

        // Counted once the gateway found the body over the limit, which it did before its answer or the reset: whichever
        // the client saw, the chunked body is the second body_bytes refusal, and the only other count is none.
        Assert.Equal(2, rejected.Sum(("reason", "body_bytes")));
        Assert.Equal(2, rejected.Sum());
        Assert.Equal(("a", "/kalman/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/kalman/audio/run"));

        // The stand-ins saw the probe above and nothing over the limit: no body of more than 1000 bytes was read to its end
        // (YARP may have begun forwarding the chunked one; its cut-off body fails the stand-in's read).
        Assert.Contains(_bodiesRead, b => b.Backend == "a" && b.Path == "/kalman/audio/run");
        Assert.DoesNotContain(_bodiesRead, b => b.Bytes > 1000);
    }

    [Fact]
    public async Task ABodyDeclaredMoreThanOneMebibyteOverTheLimitGets413AtOnceWithoutBeingReadOrForwarded()
    {
        // Only the headers are sent: a body within 1 MiB over the limit would be read to its end first (and this one
        // never comes), one further over is refused as soon as its declared length is known, and never forwarded.
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(Settings(("FilterGateway:MaxRequestBodyBytes", "1000")));
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var tcp = await FilterServiceLimitsTests.StartSlowUploadAsync(gateway.Address, 1000 + 2 * 1024 * 1024, sent: "");
        var answer = await FilterServiceLimitsTests.ReadAnswerAsync(tcp);
        Assert.StartsWith("HTTP/1.1 413 ", answer.Status, StringComparison.Ordinal);
        Assert.Contains("The request body exceeds the gateway's limit (FilterGateway:MaxRequestBodyBytes) of 1000 bytes.", answer.Body, StringComparison.Ordinal);
        Assert.Equal(1, rejected.Sum(("reason", "body_bytes")));
        Assert.DoesNotContain(_bodiesRead, b => b.Path != "/health"); // the gateway's probes aside, nothing reached a service

        using var client = gateway.CreateClient();
        Assert.Equal(("a", "/kalman/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/kalman/audio/run"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AClientLeavingOrStallingInTheMiddleOfAnOversizedBodyGets413OrNothingButNoServerError(bool halfClose)
    {
        // Declared over the limit but within the drain allowance: the gateway reads the body to its end before its
        // 413. This client sends 100 of its 5000 bytes, then either half-closes (the drain meets the end of the
        // content) or just stops sending (Kestrel's minimum body data rate, 240 B/s after 5 s, ends the drain).
        var errors = new ErrorLog();
        await using var gateway = await InProcessHost.StartAsync(Settings(("FilterGateway:MaxRequestBodyBytes", "1000")),
            builder =>
            {
                builder.AddFilterGateway();
                builder.Logging.AddProvider(errors);
            },
            app => app.MapFilterGateway());
        string answer;
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(gateway.Address.Host, gateway.Address.Port).WaitAsync(InProcessHost.Timeout);
            var request = "POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                + "{\"signal\":[" + string.Concat(Enumerable.Repeat("0.25,", 18));
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(InProcessHost.Timeout);
            if (halfClose)
            {
                tcp.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }

            using var received = new MemoryStream();
            try
            {
                // The gateway may answer 413 or just close (the client left, it may not read it anyway).
                await stream.CopyToAsync(received).WaitAsync(InProcessHost.Timeout);
            }
            catch (IOException)
            {
            }

            answer = Encoding.ASCII.GetString(received.ToArray());
        }

        // A client that stalled still has its connection open, and reads the 413.
        Assert.True((halfClose && answer.Length == 0) || answer.StartsWith("HTTP/1.1 413 ", StringComparison.Ordinal), answer);
        using var client = gateway.CreateClient();
        Assert.Equal(("a", "/kalman/audio/run"), await WhoAnswersAsync(client, HttpMethod.Post, "/kalman/audio/run"));
        Assert.Empty(errors.Entries);
    }

    [Fact]
    public async Task RateLimitingIsOffByDefaultAndAnswers429WhenSet()
    {
        await using (var unlimited = await GatewaySettingsTests.StartGatewayAsync(Settings()))
        {
            using var client = unlimited.CreateClient();
            var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => StatusOfAsync(client)));
            Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        }

        await using var limited = await GatewaySettingsTests.StartGatewayAsync(Settings(
            ("FilterGateway:RateLimitPermitsPerSecond", "1"), ("FilterGateway:RateLimitBurst", "1")));
        using var limitedClient = limited.CreateClient();
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => StatusOfAsync(limitedClient)));
        Assert.Contains(HttpStatusCode.TooManyRequests, results);

        using var rejected = await PostUntilRejectedAsync(limitedClient);
        await FilterApi.AssertProblemAsync(rejected, HttpStatusCode.TooManyRequests,
            "Too many requests from this client (FilterGateway:RateLimitPermitsPerSecond); retry after a second.", FilterApi.TooManyRequestsType);
        // Probes are never limited.
        using var health = await limitedClient.GetAsync("/health").WaitAsync(InProcessHost.Timeout);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    private static async Task<HttpStatusCode> StatusOfAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/kalman/audio/run", new StringContent("{}")).WaitAsync(InProcessHost.Timeout);
        return response.StatusCode;
    }

    private static async Task<HttpResponseMessage> PostUntilRejectedAsync(HttpClient client)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await client.PostAsync("/kalman/audio/run", new StringContent("{}")).WaitAsync(InProcessHost.Timeout);
            if (response.StatusCode == HttpStatusCode.TooManyRequests || attempt == 50)
            {
                return response;
            }

            response.Dispose();
        }
    }

    private static async Task<(string Backend, string Path)> WhoAnswersAsync(HttpClient client, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post)
        {
            request.Content = new StringContent("""{"signal":[0.2]}""", Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request).WaitAsync(InProcessHost.Timeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(InProcessHost.Timeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return (json.RootElement.GetProperty("backend").GetString()!, json.RootElement.GetProperty("path").GetString()!);
    }

    /// <summary>A stand-in service: reads the whole body, then says who it is, what path, query, content type and body (hash) it got and the traceparent it saw.</summary>
    private Task<InProcessHost> StartBackendAsync(string name) => InProcessHost.StartAsync(
        new Dictionary<string, string?>(),
        _ => { },
        app => app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            _bodiesRead.Enqueue((name, context.Request.Path.Value ?? "", body.Length));
            await context.Response.WriteAsJsonAsync(new
            {
                backend = name,
                path = context.Request.Path.Value,
                query = context.Request.QueryString.Value,
                content_type = context.Request.ContentType,
                body_sha256 = Convert.ToHexString(SHA256.HashData(body.ToArray())),
                traceparent = context.Request.Headers.TraceParent.ToString(),
            });
        }));
}
