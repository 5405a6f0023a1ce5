using System.Diagnostics.Metrics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using FilterService;
using FilterGateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// The rows of docs/filter-api.md's error table that had no test: 422 for an output that overflows, and the
/// gateway's 502 (the service's connection fails) and 504 (the service goes silent past
/// <c>FilterGateway:ForwardActivityTimeout</c>), each followed by a request that is served again.
/// </summary>
public sealed class FilterApiErrorRowTests
{
    [Fact]
    public async Task An_output_that_overflows_gets_422_naming_the_sample_and_the_next_request_is_served()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();

        // Kalman's first estimate is ~0.99 of 1.7e308; the next innovation, -1.7e308 minus that, is -infinity.
        using var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([1.7e308, -1.7e308, 1.7e308]));

        await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "not finite");
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    [Fact]
    public async Task A_state_that_overflows_gets_422_naming_it_rather_than_a_200_whose_state_the_next_call_refuses()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();

        // lms's first step size is mu z(0) / eps = 0.1 * 1e306 / 1e-6: infinite, while its output (0, empty taps) is
        // finite. It was answered 200 with a state the next call refused (400, "non-finite value (Infinity) in step
        // c(n-1)"); the whole signal in one call gets 422, its next output being infinity times the taps' product.
        const string detail = "the lms filter's state after its last sample (0) is not finite, so the stream could not go on from it: "
            + "the input's magnitude, the parameters or the state carried over take it beyond the range of a double (docs/filters.md).";
        using (var response = await PostJsonAsync(client, "/lms/audio/run", RunBody([1e306])))
        {
            await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, detail, "https://tools.ietf.org/html/rfc4918#section-11.2");
        }

        using (var whole = await PostJsonAsync(client, "/lms/audio/run", RunBody([1e306, 1])))
        {
            await AssertProblemAsync(whole, HttpStatusCode.UnprocessableEntity, "output at sample 1 is not finite");
        }

        using (var batch = await PostJsonAsync(client, "/lms/audio/batch", """{"items":[{"signal":[0.5]},{"signal":[1e306]}]}"""))
        {
            await AssertProblemAsync(batch, HttpStatusCode.UnprocessableEntity, "items[1]: " + detail);
        }

        var (filtered, _) = await RunAsync(client, "lms", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("lms", [0.2, 0.9, -0.8]), filtered);
    }

    [Fact]
    public async Task Kalman_parameters_that_overflow_answer_x0_for_one_sample_then_422_for_the_next_call_with_that_state()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();

        // docs/filters.md, "Parameters near the range of a double": q = r = 1e308 over one sample, p = p0 + q = 1e308 and
        // p + r infinite, so k = 0 and the output is x0 with a finite state; the next sample's p + q is infinite, k NaN.
        var (first, state) = await RunAsync(client, "kalman", [1], paramsJson: """{"q":1e308,"r":1e308,"x0":0.25}""");
        Assert.Equal([0.25], first);

        using (var next = await PostJsonAsync(client, "/kalman/audio/run", RunBody([2], state)))
        {
            await AssertProblemAsync(next, HttpStatusCode.UnprocessableEntity,
                "the kalman filter's output at sample 0 is not finite: the input's magnitude, the parameters or the state carried over take it beyond the range of a double (docs/filters.md).");
        }

        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    [Fact]
    public async Task A_bad_batch_parameter_gets_400_naming_the_parameter_not_an_item()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();

        using var response = await PostJsonAsync(client, "/rls/audio/batch", """{"params":{"order":0},"items":[{"signal":[0.1]},{"signal":[0.3]}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var detail = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString();
        Assert.StartsWith("Parameter 'order'", detail);
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    [Theory]
    [InlineData(true, "The X-Filter-State header must be the base64 state")]
    [InlineData(false, "The 'state' query parameter (URL-encoded) must be the base64 state")]
    public async Task A_binary_run_with_a_state_that_is_not_base64_gets_400_naming_where_the_state_came_from(bool header, string detail)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();
        using var content = new ByteArrayContent(new byte[16]);
        content.Headers.ContentType = new("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, header ? "/kalman/audio/run" : "/kalman/audio/run?state=%21%21not-base64") { Content = content };
        if (header)
        {
            request.Headers.Add("X-Filter-State", "!!not-base64");
        }

        using var response = await client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    [Theory]
    [InlineData("?STATE=%21%21not-base64", "The 'state' query parameter (URL-encoded) must be the base64 state")] // names are case-insensitive
    [InlineData("?q=1&Q=2", "Query parameter 'Q' is given twice (parameter names are case-insensitive).")]
    [InlineData("?r=1&r=2&r=3", "Query parameter 'r' is given 3 times (parameter names are case-insensitive).")]
    [InlineData("?state=AAAA&State=AAAA", "Query parameter 'State' is given twice (parameter names are case-insensitive).")]
    [InlineData("?state=AAAA", "The state is given both in the X-Filter-State header and in the 'state' query parameter: send it once.", "AAAA")]
    public async Task A_binary_run_with_a_value_given_twice_gets_400_naming_it_rather_than_one_of_them_being_dropped(string query, string detail, string? headerState = null)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();
        using var content = new ByteArrayContent(new byte[16]);
        content.Headers.ContentType = new("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run" + query) { Content = content };
        if (headerState is not null)
        {
            request.Headers.Add("X-Filter-State", headerState);
        }

        using var response = await client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
    }

    [Fact]
    public async Task A_body_that_cannot_be_read_to_its_end_gets_400_the_client_sees_and_no_server_error()
    {
        // Broken chunked framing ("zz" is no hex chunk size) with the connection still open: Kestrel fails the body read
        // with its own 400 BadHttpRequestException, and the service answers it as the client's error. A body ending
        // before its Content-Length goes the same way, but only with the client closing its side, which makes Kestrel
        // drop the answer (and often notice the client gone first: requests.abandoned), so no client can check that one.
        var errors = new ErrorLog();
        await using var service = await FilterServiceLimitsTests.StartServiceAsync(errors);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(service.Address.Host, service.Address.Port).WaitAsync(CallTimeout);
            var stream = tcp.GetStream();
            var request = "POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                + "Connection: close\r\n\r\n5\r\n{\"sig\r\nzz\r\n";
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(CallTimeout);
            using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
            var answer = await reader.ReadToEndAsync().WaitAsync(CallTimeout);

            Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
            Assert.Contains("Content-Type: application/problem+json", answer, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("\"detail\":\"The request body could not be read to its end: Bad chunk size data.\"", answer, StringComparison.Ordinal);
        }

        using var client = service.CreateClient();
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
        Assert.Empty(errors.Entries);
    }

    [Fact]
    public async Task A_binary_run_with_two_state_headers_gets_400_rather_than_their_joined_text_read_as_one()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();

        // HttpClient joins two values of a header into one line; two lines need a raw request.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(service.Address.Host, service.Address.Port).WaitAsync(CallTimeout);
        var stream = tcp.GetStream();
        var request = "POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\nContent-Length: 8\r\n"
            + "X-Filter-State: AAAA\r\nX-Filter-State: AAAA\r\nConnection: close\r\n\r\n";
        byte[] bytes = [.. System.Text.Encoding.ASCII.GetBytes(request), .. new byte[8]];
        await stream.WriteAsync(bytes).AsTask().WaitAsync(CallTimeout);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        var answer = await reader.ReadToEndAsync().WaitAsync(CallTimeout);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("The X-Filter-State header is given twice: send one state.", answer, StringComparison.Ordinal);
    }

    /// <summary>
    /// A state as a client could write it (docs/filters.md: the i64 sample count at byte 8, a CRC-32 of the rest in the
    /// last 4 bytes): a real state with its count replaced.
    /// </summary>
    private static string WithSampleCount(string state, long samples)
    {
        var bytes = Convert.FromBase64String(state);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), samples);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4),
            System.IO.Hashing.Crc32.HashToUInt32(bytes.AsSpan(0, bytes.Length - 4)));
        return Convert.ToBase64String(bytes);
    }

    [Fact]
    public async Task A_state_whose_sample_count_would_overflow_gets_400_naming_the_field_in_every_form()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();
        var (_, real) = await RunAsync(client, "kalman", [0.2, 0.9]);
        var forged = WithSampleCount(real, long.MaxValue);
        const string overflow = "the filter state claims 9223372036854775807 samples processed, and 3 more would overflow its sample count";

        using (var run = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9, -0.8], forged)))
        {
            await AssertProblemAsync(run, HttpStatusCode.BadRequest, "state: " + overflow);
        }

        using (var batch = await PostJsonAsync(client, "/kalman/audio/batch",
                   $$"""{"items":[{"signal":[0.1]},{"signal":[0.2,0.9,-0.8],"state":"{{forged}}"}]}"""))
        {
            await AssertProblemAsync(batch, HttpStatusCode.BadRequest, "items[1].state: " + overflow);
        }

        var samples = new byte[3 * sizeof(double)];
        using (var content = new ByteArrayContent(samples))
        {
            content.Headers.ContentType = new("application/octet-stream");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = content };
            request.Headers.Add("X-Filter-State", forged);
            using var binary = await client.SendAsync(request).WaitAsync(CallTimeout);
            await AssertProblemAsync(binary, HttpStatusCode.BadRequest, "X-Filter-State: " + overflow);
        }

        var (batchStatus, _, batchBody) = await PostBinaryBatchAsync(client, "/kalman/audio/batch",
            BinaryBatchBody(([0.2, 0.9, -0.8], Convert.FromBase64String(forged))));
        Assert.Equal(HttpStatusCode.BadRequest, batchStatus);
        Assert.Contains("items[0].state: " + overflow, System.Text.Encoding.UTF8.GetString(batchBody));
    }

    [Fact]
    public async Task A_state_whose_sample_count_just_fits_is_served_and_its_count_reaches_the_maximum()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();
        var (_, real) = await RunAsync(client, "kalman", [0.2, 0.9]);

        var (_, next) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8], WithSampleCount(real, long.MaxValue - 3));

        Assert.Equal(long.MaxValue, System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(Convert.FromBase64String(next).AsSpan(8)));
    }

    [Theory]
    [InlineData("FilterService:MaxBatchItems", "1", "batch_items")]
    [InlineData("FilterService:MaxSamplesPerRequest", "1", "samples")]
    [InlineData("FilterService:MaxRequestBodyBytes", "16", "body_bytes")]
    public async Task A_limit_refusal_is_counted_in_requests_rejected_by_its_limit(string setting, string value, string limit)
    {
        using var metrics = new MeasurementRecorder(FilterServiceMetrics.MeterName);
        await using var service = await FilterServiceLimitsTests.StartServiceAsync((setting, value));
        using var client = service.CreateClient();

        using var response = await PostJsonAsync(client, "/kalman/audio/batch", """{"items":[{"signal":[0.1,0.2]},{"signal":[0.3]}]}""");

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, setting);
        Assert.Equal(1, metrics.Sum("signalpipeline.filter.requests.rejected", ("limit", limit)));
        Assert.Equal(1, metrics.Sum("signalpipeline.filter.requests.rejected"));
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("text/plain")]
    [InlineData("application/xml, text/*;q=0.5")]
    public async Task A_bare_status_is_problem_json_whatever_the_Accept(string accept)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
        });

        // An unmatched route and a wrong method, at the service and at the gateway (a browser's Accept included).
        foreach (var client in new[] { service.CreateClient(), gateway.CreateClient() })
        {
            using (client)
            {
                using var unrouted = new HttpRequestMessage(HttpMethod.Get, "/no/such/route");
                unrouted.Headers.TryAddWithoutValidation("Accept", accept);
                using var notFound = await client.SendAsync(unrouted).WaitAsync(CallTimeout);
                await AssertProblemAsync(notFound, HttpStatusCode.NotFound, type: "https://tools.ietf.org/html/rfc9110#section-15.5.5");

                using var wrongMethod = new HttpRequestMessage(HttpMethod.Get, "/kalman/audio/run");
                wrongMethod.Headers.TryAddWithoutValidation("Accept", accept);
                using var notAllowed = await client.SendAsync(wrongMethod).WaitAsync(CallTimeout);
                await AssertProblemAsync(notAllowed, HttpStatusCode.MethodNotAllowed, type: "https://tools.ietf.org/html/rfc9110#section-15.5.6");
            }
        }
    }

    [Fact]
    public async Task A_fault_of_the_service_itself_gets_a_bare_500_problem_without_its_message_is_logged_and_the_service_goes_on()
    {
        // A bug: an exception no check caught, on a route behind the service's whole pipeline (admission included).
        var errors = new ErrorLog();
        await using var service = await InProcessHost.StartAsync(new Dictionary<string, string?>(), builder =>
        {
            builder.AddFilterService();
            builder.Logging.AddProvider(errors);
        }, app =>
        {
            app.MapFilterService();
            app.MapPost("/test/fault", IResult () => throw new InvalidOperationException("internal detail 7f3a"));
        });
        var metrics = service.App.Services.GetRequiredService<FilterServiceMetrics>();
        using var client = service.CreateClient();

        using (var response = await client.PostAsync("/test/fault", content: null).WaitAsync(CallTimeout))
        {
            var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
            await AssertProblemAsync(response, HttpStatusCode.InternalServerError, type: "https://tools.ietf.org/html/rfc9110#section-15.6.1");
            Assert.DoesNotContain("7f3a", text, StringComparison.Ordinal); // neither the message nor a stack trace goes to the client
            Assert.DoesNotContain("InvalidOperationException", text, StringComparison.Ordinal);
        }

        // The operator's side: logged as an error with the exception, and the slot given back.
        Assert.Contains(errors.Entries, e => e.Contains("internal detail 7f3a", StringComparison.Ordinal));
        Assert.Equal(0, metrics.ActiveRequests);
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    [Fact]
    public async Task A_service_whose_connection_fails_gets_502_through_the_gateway()
    {
        // Healthy for the gateway's probe, but every filter request's connection is dropped.
        var broken = new StrongBox<bool>(true);
        await using var service = await StandInAsync(broken, context =>
        {
            context.Abort();
            return Task.CompletedTask;
        });
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
        });
        using var failures = CollectForwardErrors(gateway);
        using var client = gateway.CreateClient();

        using (var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9])))
        {
            // Until 2026-12-06 a bare "Bad Gateway" problem: no word of which service, or of what it did.
            await AssertProblemAsync(response, HttpStatusCode.BadGateway,
                "The 'kalman' service closed the connection or failed before its answer was whole; the request was not retried");
        }

        failures.AssertDocumented(typeof(Counter<>), "{request}");
        Assert.Equal(1, failures.Sum(("reason", "service_failed")));
        Volatile.Write(ref broken.Value, false);
        await AssertServedAgainAsync(client);
    }

    [Fact]
    public async Task A_service_whose_answer_breaks_off_after_it_began_cuts_the_clients_answer_and_is_counted_as_answer_cut()
    {
        // Status and headers sent, 100 of 1,000 declared bytes, then the connection dropped: the gateway has passed the
        // 200 on already and can only cut the client's answer short. Until 2026-12-06 no instrument counted it.
        var broken = new StrongBox<bool>(true);
        await using var service = await StandInAsync(broken, async context =>
        {
            context.Response.ContentLength = 1000;
            await context.Response.Body.WriteAsync(new byte[100]);
            await context.Response.Body.FlushAsync();
            await Task.Delay(200);
            context.Abort();
        });
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
        });
        using var failures = CollectForwardErrors(gateway);
        using var client = gateway.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run")
        {
            Content = new StringContent(RunBody([0.2, 0.9]), Encoding.UTF8, "application/json"),
        };
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(CallTimeout))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout)); // cut short, not 1,000 bytes
        }

        await Poll.UntilAsync(() => failures.Sum(("reason", "answer_cut")) == 1, CallTimeout, () => "the cut answer to be counted");
        Assert.Equal(1, failures.Sum());
        Volatile.Write(ref broken.Value, false);
        await AssertServedAgainAsync(client);
    }

    [Fact]
    public async Task A_service_answering_something_that_is_not_HTTP_gets_502_through_the_gateway()
    {
        // A raw TCP stand-in: its /health is HTTP (so the gateway's probe keeps it in), every other request gets bytes
        // that are no HTTP answer and the connection closed.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serving = ServeGarbageAsync(listener, stop.Token);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/",
        });
        using var failures = CollectForwardErrors(gateway);
        using var client = gateway.CreateClient();

        using (var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9])))
        {
            await AssertProblemAsync(response, HttpStatusCode.BadGateway,
                "The 'kalman' service closed the connection or failed before its answer was whole; the request was not retried");
        }

        Assert.Equal(1, failures.Sum(("reason", "service_failed")));
        Assert.Equal(1, failures.Sum());
        await stop.CancelAsync();
        listener.Stop();
        await Task.WhenAny(serving);
    }

    private static async Task ServeGarbageAsync(System.Net.Sockets.TcpListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            using var connection = await listener.AcceptTcpClientAsync(cancellationToken);
            var stream = connection.GetStream();
            var head = new StringBuilder();
            var buffer = new byte[4096];
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                head.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            var answer = head.ToString().StartsWith("GET /health ", StringComparison.Ordinal)
                ? "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nHealthy"
                : "garbage that is no status line\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), cancellationToken);
        }
    }

    [Fact]
    public async Task A_service_silent_past_ForwardActivityTimeout_gets_504_through_the_gateway()
    {
        var broken = new StrongBox<bool>(true);
        await using var service = await StandInAsync(broken, async context => await Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            ["FilterGateway:ForwardActivityTimeout"] = "00:00:01",
        });
        using var failures = CollectForwardErrors(gateway);
        using var client = gateway.CreateClient();

        using (var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9])))
        {
            await AssertProblemAsync(response, HttpStatusCode.GatewayTimeout,
                "The 'kalman' service sent nothing for 1 s (FilterGateway:ForwardActivityTimeout) and the request was stopped.");
        }

        Assert.Equal(1, failures.Sum(("reason", "timeout")));
        Assert.Equal(1, failures.Sum());
        Volatile.Write(ref broken.Value, false);
        await AssertServedAgainAsync(client);
    }

    [Fact]
    public async Task A_service_that_cannot_be_reached_gets_502_naming_it_and_ConnectRetries()
    {
        // Nothing listens on the port. One probe at start fails (two in a row mark it dead, and the next is 10 min away),
        // so requests still go to the destination and meet the closed port rather than the gateway's own 503.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = $"http://127.0.0.1:{port}/",
            ["FilterGateway:HealthCheckInterval"] = "00:10:00",
            ["FilterGateway:ConnectRetries"] = "1",
        });
        using var failures = CollectForwardErrors(gateway);
        using var client = gateway.CreateClient();

        using (var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9])))
        {
            await AssertProblemAsync(response, HttpStatusCode.BadGateway,
                "The 'kalman' service could not be reached: no connection after 2 attempt(s) (FilterGateway:ConnectRetries). Retry later.");
        }

        Assert.Equal(1, failures.Sum(("reason", "connect")));
        Assert.Equal(1, failures.Sum());
    }

    /// <summary>The gateway's <c>forward_errors</c> (also used by <c>GatewayHealthPolicyTests</c>).</summary>
    internal static MetricCollector<long> CollectForwardErrors(InProcessHost gateway)
        => DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<IMeterFactory>(), GatewayMetrics.MeterName,
            "signalpipeline.gateway.forward_errors");

    /// <summary>
    /// A stand-in kalman service: <c>/health</c> answers; other requests get <paramref name="misbehave"/> while
    /// <paramref name="broken"/> holds (the gateway's retries meet it too), then a 200.
    /// </summary>
    private static Task<InProcessHost> StandInAsync(StrongBox<bool> broken, RequestDelegate misbehave) => InProcessHost.StartAsync(
        new Dictionary<string, string?>(),
        _ => { },
        // /health in app.Run, not MapGet: a mapped endpoint runs after the pipeline, so app.Run answered the probes too
        // (until 2026-12-06 they met misbehave; two in a row would have taken the stand-in out, GatewayHealthPolicyTests).
        app => app.Run(context => context.Request.Path == "/health" ? context.Response.WriteAsync("Healthy")
            : Volatile.Read(ref broken.Value) ? misbehave(context) : context.Response.WriteAsync("{}")));

    /// <summary>The next request on the same route is forwarded and answered.</summary>
    private static async Task AssertServedAgainAsync(HttpClient client)
    {
        using var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
