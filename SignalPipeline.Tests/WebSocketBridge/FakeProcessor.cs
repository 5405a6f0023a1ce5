using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Tests.FilterGateway;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// A stand-in for the processor's <c>GET /streams/{id}</c> on a loopback port: answers the streams it is given (the
/// documented shape, or a status), 404 for others, counts the calls per stream and can hold a stream's answer until released.
/// </summary>
public sealed class FakeProcessor : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, string> _answers = new();
    private readonly ConcurrentDictionary<string, int> _calls = new();
    private readonly ConcurrentDictionary<string, int> _statuses = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new();
    private InProcessHost _host = null!;

    public Uri Address => _host.Address;

    public static async Task<FakeProcessor> StartAsync()
    {
        var fake = new FakeProcessor();
        fake._host = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { },
            app => app.MapGet("/streams/{id}", fake.AnswerAsync));
        return fake;
    }

    /// <summary>A kalman stream's answer as docs/processor.md shows it, with the given gain.</summary>
    public static string KalmanView(string id, double gain) =>
        "{\"streamId\":\"" + id + "\",\"partition\":0,\"nextSeq\":5,\"lastSeq\":4,\"heldChunks\":0,\"lastActiveMs\":1,"
        + "\"config\":{\"algorithm\":\"kalman\",\"params\":{\"q\":0.001,\"r\":0.1},\"source\":\"stream-config\",\"switchSeq\":2,\"configOffset\":7},\"pendingConfig\":null,"
        + "\"filter\":{\"algorithm\":\"kalman\",\"samplesProcessed\":1000,\"parameters\":{\"q\":0.001,\"r\":0.1},"
        + "\"values\":{\"estimate\":0.5,\"errorVariance\":0.01,\"gain\":" + gain.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "},\"vectors\":{}}}";

    public void Answer(string id, string json) => _answers[id] = json;

    /// <summary>Calls for <paramref name="id"/> are answered with <paramref name="status"/> and no body.</summary>
    public void AnswerStatus(string id, int status) => _statuses[id] = status;

    /// <summary>Calls for <paramref name="id"/> wait until <see cref="Release"/>.</summary>
    public void Hold(string id) => _holds[id] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release(string id)
    {
        if (_holds.TryRemove(id, out var hold))
        {
            hold.SetResult();
        }
    }

    public int Calls(string id) => _calls.GetValueOrDefault(id);

    private async Task<IResult> AnswerAsync(string id, HttpContext context, CancellationToken cancellationToken)
    {
        id = context.DecodedRouteValue(nameof(id)) ?? id; // as the processor reads it
        _calls.AddOrUpdate(id, 1, (_, n) => n + 1);
        if (_holds.TryGetValue(id, out var hold))
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        if (_statuses.TryGetValue(id, out var status))
        {
            return Results.StatusCode(status);
        }

        return _answers.TryGetValue(id, out var json)
            ? Results.Text(json, "application/json")
            : Results.Problem(statusCode: 404, title: "Stream not held here", detail: $"Stream '{id}' is not held by instance fake-0 (input partitions [0,1])");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _holds.Keys)
        {
            Release(id);
        }

        await _host.DisposeAsync();
    }
}
