using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// FilterGateway:MaxConcurrentLargeRequests (docs/filter-api.md, Gateway): large bodies take a slot before any of their
/// body is read; without one they wait FilterGateway:LargeRequestQueueTimeout, then get 503 with Retry-After, while
/// small requests pass by and large ones are served again once a slot frees.
/// </summary>
public sealed class GatewayLargeRequestTests
{
    [Fact]
    public async Task ALargeBodyWithoutASlotGets503WhileSmallOnesPassAndLargeOnesAreServedAgainAfterwards()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodiesRead = new System.Collections.Concurrent.ConcurrentQueue<long?>();
        await using var backend = await StartHoldingBackendAsync(holding, release.Task, bodiesRead);
        await using var gateway = await StartOneSlotGatewayAsync(backend);
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var active = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), global::FilterGateway.GatewayMetrics.MeterName,
            "signalpipeline.gateway.large_requests.active").AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{request}");
        using var queued = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), global::FilterGateway.GatewayMetrics.MeterName,
            "signalpipeline.gateway.large_requests.queued").AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{request}");
        using var client = gateway.CreateClient();
        using var other = gateway.CreateClient();
        var large = new byte[64 * 1024];
        Assert.Equal(0, active.Observe());

        var first = client.PostAsync("/kalman/audio/run", new ByteArrayContent(large));
        await holding.Task.WaitAsync(InProcessHost.Timeout);
        Assert.Equal(1, active.Observe());
        Assert.Equal(0, queued.Observe());

        using (var refused = await other.PostAsync("/kalman/audio/run", new ByteArrayContent(large)).WaitAsync(InProcessHost.Timeout))
        {
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "FilterGateway:MaxConcurrentLargeRequests");
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.Equal(1, rejected.Sum(("reason", "large_requests")));
        }

        using (var small = await other.PostAsync("/kalman/audio/run", new StringContent("""{"signal":[1]}""", Encoding.UTF8, "application/json"))
                   .WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }

        // Only the small request's body reached the service: the refused one was never forwarded.
        Assert.True(bodiesRead.Count == 1 && bodiesRead.All(length => length < 1000), "bodies read by the service: " + string.Join(", ", bodiesRead));
        release.SetResult();
        using (var firstResponse = await first.WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        }

        using var again = await other.PostAsync("/kalman/audio/run", new ByteArrayContent(large)).WaitAsync(InProcessHost.Timeout);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        await Poll.UntilAsync(() => active.Observe() == 0, InProcessHost.Timeout, () => "the lane's slot to be given back");
    }

    /// <summary>A gateway in front of <paramref name="backend"/> with one slot for bodies over 1000 bytes and a queue wait of 0.2 s.</summary>
    private static Task<InProcessHost> StartOneSlotGatewayAsync(InProcessHost backend) => GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
    {
        ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
        ["FilterGateway:MaxConcurrentLargeRequests"] = "1",
        ["FilterGateway:LargeRequestBytes"] = "1000",
        ["FilterGateway:LargeRequestQueueTimeout"] = "00:00:00.2",
        // The clients are the test's one address: its own limit is the next test's.
        ["FilterGateway:MaxLargeRequestsPerAddress"] = "16",
    });

    /// <summary>
    /// A stand-in service that holds the first large request (over 1000 bytes declared: not the gateway's health probes)
    /// before reading its body, until <paramref name="release"/>; the declared lengths of the POST bodies it read go to
    /// <paramref name="bodiesRead"/>.
    /// </summary>
    private static Task<InProcessHost> StartHoldingBackendAsync(TaskCompletionSource holding, Task release, System.Collections.Concurrent.ConcurrentQueue<long?>? bodiesRead = null)
        => InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            if (context.Request.ContentLength > 1000 && holding.TrySetResult())
            {
                await release;
            }

            await context.Request.Body.CopyToAsync(Stream.Null);
            if (HttpMethods.IsPost(context.Request.Method))
            {
                bodiesRead?.Enqueue(context.Request.ContentLength);
            }

            await context.Response.WriteAsync("ok");
        }));

    [Fact]
    public async Task AClientWithMaxLargeRequestsPerAddressInTheLaneGets429WhileAnotherClientTakesTheOtherSlot()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The held request holds its slot as a client sending its body slowly would.
        await using var backend = await StartHoldingBackendAsync(holding, release.Task);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:LargeRequestBytes"] = "1000",
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var client = gateway.CreateClient();
        var large = new byte[64 * 1024];
        HttpRequestMessage Large(string from)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = new ByteArrayContent(large) };
            request.Headers.Add("X-Forwarded-For", from);
            return request;
        }

        // 203.0.113.1 holds one of the two slots (the default MaxConcurrentLargeRequests) with its one large request.
        var first = client.SendAsync(Large("203.0.113.1"));
        await holding.Task.WaitAsync(InProcessHost.Timeout);

        // Its second large request is refused at once, body unread (before 2026-12-04 it took the other slot, and two
        // slow uploads of one client shut every other client's large requests out).
        using (var second = await client.SendAsync(Large("203.0.113.1")).WaitAsync(InProcessHost.Timeout))
        {
            await FilterApi.AssertProblemAsync(second, HttpStatusCode.TooManyRequests, "forwarded or waiting (FilterGateway:MaxLargeRequestsPerAddress)");
            Assert.Equal(1, rejected.Sum(("reason", "large_requests_per_address")));
        }

        // Another client is served.
        using (var other = await client.SendAsync(Large("203.0.113.2")).WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        release.SetResult();
        using (var firstResponse = await first.WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        }

        // Answered, its count is back: the next one is served.
        using var again = await client.SendAsync(Large("203.0.113.1")).WaitAsync(InProcessHost.Timeout);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, rejected.Sum());
    }

    [Fact]
    public async Task ARefusedLargeBodyIsNotReadEvenWhileItsClientKeepsSending()
    {
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A stand-in service that reads its request's body: the first large request holds the lane's slot while its
        // client sends nothing more. Only a large request counts as the holder: the gateway's health probes (GET /health)
        // reach the service too, and one arriving first let the refused upload in before the holder had the slot
        // (CI, 2026-12-06: 502 from the service instead of 503).
        await using var backend = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            if (context.Request.ContentLength > 1000)
            {
                holding.TrySetResult();
            }

            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.WriteAsync("ok");
        }));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:MaxConcurrentLargeRequests"] = "1",
            ["FilterGateway:LargeRequestBytes"] = "1000",
            ["FilterGateway:LargeRequestQueueLimit"] = "0",
            ["FilterGateway:MaxRequestBodyBytes"] = UploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["FilterGateway:MaxLargeRequestsPerAddress"] = "16",
            // The holder trickles (TrickleAsync): held to Kestrel's 240 B/s, not to the large bodies' 1 MiB/s.
            ["FilterGateway:LargeBodyMinBytesPerSecond"] = "0",
        });
        using var active = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), global::FilterGateway.GatewayMetrics.MeterName,
            "signalpipeline.gateway.large_requests.active");
        using var holder = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await holder.ConnectAsync(gateway.Address.Host, gateway.Address.Port).WaitAsync(InProcessHost.Timeout);
        await holder.SendAsync(Encoding.ASCII.GetBytes(UploadHead("/kalman/audio/run", HolderBytes)));
        using var stopHolding = new CancellationTokenSource();
        var trickle = TrickleAsync(holder, stopHolding.Token);
        await holding.Task.WaitAsync(InProcessHost.Timeout);
        Assert.Equal(1, active.Observe());

        var (statusLine, uploaded) = await UploadWhileReadingAsync(gateway.Address, UploadHead("/kalman/audio/run", UploadBytes));

        Assert.StartsWith("HTTP/1.1 503", statusLine);
        Assert.False(uploaded, "the gateway read the whole body of a request it refused");
        await stopHolding.CancelAsync();
        await trickle;
    }

    /// <summary>
    /// A client that sends <c>Expect: 100-continue</c> and waits longer than the lane's queue timeout gets the refusal
    /// before it sends any of its body, and its body is asked for once it has a slot (docs/filter-api.md, "Large bodies, a
    /// few at a time"). Without it a client still sending when the refusal comes may find the connection closed under
    /// its upload instead of reading the 503 (the bench's abusers: <c>HttpRequestException</c>, broken pipe).
    /// </summary>
    [Fact]
    public async Task AClientAskingToContinueGetsTheRefusalBeforeSendingItsBodyAndSendsItOnceItHasASlot()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodiesRead = new System.Collections.Concurrent.ConcurrentQueue<long?>();
        await using var backend = await StartHoldingBackendAsync(holding, release.Task, bodiesRead);
        await using var gateway = await StartOneSlotGatewayAsync(backend);
        using var client = gateway.CreateClient();
        using var continuing = ContinuingUpload.Client(gateway.Address, InProcessHost.Timeout);

        var first = client.PostAsync("/kalman/audio/run", new ByteArrayContent(new byte[64 * 1024]));
        await holding.Task.WaitAsync(InProcessHost.Timeout);

        // 8 MiB, as the bench's abandoned rls(64) requests: more than the sockets' buffers take.
        const long bodyBytes = 8 * 1024 * 1024;
        var refusedBody = new ContinuingUpload.Body(bodyBytes);
        using (var refused = await continuing.SendAsync(ContinuingUpload.Post(refusedBody)).WaitAsync(InProcessHost.Timeout))
        {
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "FilterGateway:MaxConcurrentLargeRequests");
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        }

        Assert.False(refusedBody.Sent, "the client sent the body of a request the gateway refused before asking for it");
        release.SetResult();
        using (var firstResponse = await first.WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        }

        var servedBody = new ContinuingUpload.Body(bodyBytes);
        using (var served = await continuing.SendAsync(ContinuingUpload.Post(servedBody)).WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        Assert.True(servedBody.Sent);
        Assert.Contains(bodyBytes, bodiesRead);
    }

    /// <summary>The lane holder's body: more than <see cref="TrickleAsync"/> sends while a test runs.</summary>
    private const long HolderBytes = 1024 * 1024;

    /// <summary>
    /// Sends the lane holder's body slowly, 64 bytes every 50 ms: a client that stops sending altogether loses its
    /// request to Kestrel's minimum body data rate (240 B/s after a 5 s grace), which freed the slot the test needs
    /// held when the machine was slow enough for 5 s to pass before the refused upload arrived.
    /// </summary>
    private static async Task TrickleAsync(Socket holder, CancellationToken stop)
    {
        var bytes = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("1,", 32)));
        try
        {
            for (long sent = 0; sent + bytes.Length < HolderBytes; sent += bytes.Length)
            {
                await holder.SendAsync(bytes, SocketFlags.None, stop);
                await Task.Delay(50, stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A body larger than the socket buffers of both ends can hold, so it can only all go out if it is read.</summary>
    internal const long UploadBytes = 64L * 1024 * 1024;

    internal static string UploadHead(string path, long contentLength, string? forwardedFor = null)
        => $"POST {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {contentLength}\r\n"
            + (forwardedFor is null ? "" : $"X-Forwarded-For: {forwardedFor}\r\n") + "\r\n";

    /// <summary>
    /// Sends <paramref name="head"/>, then <see cref="UploadBytes"/> of body while reading the answer, as a client that
    /// does not stop at an early answer does (curl stops; a simple script or an abuser does not). Returns the answer's
    /// status line and whether the whole body went out, which it cannot when the gateway closes without reading it.
    /// <see cref="UploadHead"/> asks for <c>Connection: close</c>, so a request that was served, not refused, ends too.
    /// </summary>
    internal static async Task<(string StatusLine, bool Uploaded)> UploadWhileReadingAsync(Uri address, string head)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(address.Host, address.Port).WaitAsync(InProcessHost.Timeout);
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        var upload = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                for (long sent = 0; sent < UploadBytes;)
                {
                    sent += await socket.SendAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, UploadBytes - sent)));
                }

                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        });

        var answer = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer).WaitAsync(InProcessHost.Timeout)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // The connection reset after the answer: the body's unread bytes were still arriving.
        }

        var uploaded = await upload.WaitAsync(InProcessHost.Timeout);
        return (Encoding.ASCII.GetString(answer.ToArray()).Split("\r\n")[0], uploaded);
    }

    [Fact]
    public async Task TheLaneIsOffAtZero()
    {
        await using var backend = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            await Task.Delay(200);
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.WriteAsync("ok");
        }));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:MaxConcurrentLargeRequests"] = "0",
            ["FilterGateway:LargeRequestBytes"] = "1000",
            ["FilterGateway:LargeRequestQueueTimeout"] = "00:00:00",
        });
        using var client = gateway.CreateClient();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            using var response = await client.PostAsync("/kalman/audio/run", new ByteArrayContent(new byte[8192])).WaitAsync(InProcessHost.Timeout);
            return response.StatusCode;
        }));

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
    }
}
