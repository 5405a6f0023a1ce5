using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// How far Kestrel's socket transport reads ahead of the app on one connection (<c>SocketTransportOptions.MaxReadBufferSize</c>,
/// 1 MiB by default; <c>KestrelServerLimits.MaxRequestBufferSize</c> does not govern it). The transport reads whatever a
/// client sends until that much is unread, whatever the app does: pipelined requests answered one at a time, a body
/// while its request waits in a queue, WebSocket messages read at a client's command rate. So each open connection
/// can make the service hold this much, and the connection limit times it is what connections can hold (the
/// services at 1 MiB: 512 to 1536 connections, 0.5 to 1.5 GiB against a 512 MiB pod; docs/benchmarks.md,
/// "Read-ahead floods"). It must stay above the request-header limit: the parser needs a whole header line in the buffer.
/// </summary>
public static class KestrelReadAhead
{
    /// <summary>Kestrel reads at most <paramref name="bytes"/> of <typeparamref name="TOptions"/> ahead per connection.</summary>
    public static IServiceCollection AddKestrelReadAhead<TOptions>(this IServiceCollection services, Func<TOptions, int> bytes)
        where TOptions : class
    {
        services.AddOptions<SocketTransportOptions>()
            .Configure<IOptions<TOptions>>((transport, options) => transport.MaxReadBufferSize = bytes(options.Value));
        return services;
    }

    /// <summary>
    /// The error for a read-ahead not over the request-header limit (settings <c>{section}:MaxReadAheadBytes</c> and
    /// <c>{section}:MaxRequestHeadersBytes</c>), or none.
    /// </summary>
    public static IEnumerable<ValidationResult> Validate(string section, int readAheadBytes, int requestHeadersBytes)
    {
        if (readAheadBytes <= requestHeadersBytes)
        {
            yield return new ValidationResult(
                $"{section}:MaxReadAheadBytes = {readAheadBytes} must be over {section}:MaxRequestHeadersBytes = {requestHeadersBytes}: "
                + "Kestrel needs a whole header line in what it has read.",
                ["MaxReadAheadBytes"]);
        }
    }
}
