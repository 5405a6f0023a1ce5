using System.Net;
using FilterKafkaProcessor.Directory;

namespace FilterKafkaProcessor.Inspection;

/// <summary>What the other instances said about a stream: the owner's answer, or who was asked and who did not answer.</summary>
public sealed record LookupResult(InstanceEntry? Owner, byte[]? Body, IReadOnlyList<InstanceEntry> Asked, IReadOnlyList<string> Unreachable, bool Refused = false);

/// <summary>
/// Finds the instance that holds a stream this one does not: asks every other live instance of the directory at once,
/// with <c>?local=true</c> so none of them asks further (no recursion, no loops), and takes the first that holds it.
/// Bounded: each question waits at most <see cref="InstanceDirectoryOptions.StreamLookupTimeoutMs"/>, and at most
/// <see cref="InstanceDirectoryOptions.MaxStreamLookups"/> lookups run at once (more are refused, HTTP 503, at once).
/// </summary>
public sealed class StreamLookup : IDisposable
{
    /// <summary>Largest answer taken from another instance (a stream view with a long weight vector is well below it).</summary>
    public const int MaxAnswerBytes = 16 << 20;

    private readonly HttpClient _http;
    private readonly InstanceDirectory _directory;
    private readonly StreamInstance _self;
    private readonly TimeSpan _timeout;
    private readonly SemaphoreSlim _slots;

    public StreamLookup(InstanceDirectory directory, StreamInstance self, InstanceDirectoryOptions options)
    {
        _directory = directory;
        _self = self;
        _timeout = TimeSpan.FromMilliseconds(options.StreamLookupTimeoutMs);
        MaxLookups = options.MaxStreamLookups;
        _slots = new SemaphoreSlim(MaxLookups);

        // Its own client, not the app's default one: that retries (standard resilience) and resolves service names, and
        // a lookup must give up after one timeout on a plain address.
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = _timeout, PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
    }

    public int MaxLookups { get; }

    public async Task<LookupResult> FindAsync(string streamId, CancellationToken cancellationToken)
    {
        var others = _directory.Others(_self.Id);
        if (others.Count == 0)
        {
            return new LookupResult(null, null, [], []);
        }

        if (!_slots.Wait(0, CancellationToken.None))
        {
            return new LookupResult(null, null, others, [], Refused: true);
        }

        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(_timeout);
            var asking = others.Select(o => AskAsync(o, streamId, limit.Token)).ToList();
            var unreachable = new List<string>();
            while (asking.Count > 0)
            {
                var done = await Task.WhenAny(asking);
                asking.Remove(done);
                var (instance, body, error) = await done;
                if (body is not null)
                {
                    await limit.CancelAsync(); // the others need not answer
                    return new LookupResult(instance, body, others, unreachable);
                }

                if (error is not null)
                {
                    unreachable.Add($"{instance.Instance} ({instance.Url}): {error}");
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            return new LookupResult(null, null, others, unreachable);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>One instance's answer: its body when it holds the stream, nothing when it answered 404, else why not.</summary>
    private async Task<(InstanceEntry Instance, byte[]? Body, string? Error)> AskAsync(InstanceEntry instance, string streamId, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri($"{instance.Url}/streams/{Uri.EscapeDataString(streamId)}?local=true"), cancellationToken);
            return response.StatusCode switch
            {
                HttpStatusCode.OK => (instance, await response.Content.ReadAsByteArrayAsync(cancellationToken), null),
                HttpStatusCode.NotFound => (instance, null, null),
                var status => (instance, null, $"answered {(int)status} {response.ReasonPhrase}"),
            };
        }
        catch (OperationCanceledException)
        {
            return (instance, null, $"no answer within {_timeout.TotalMilliseconds:F0} ms");
        }
        catch (HttpRequestException e)
        {
            return (instance, null, e.Message);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
    }
}
