using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The bytes Kestrel has read from clients that the app has not taken yet, over all open connections: what
/// <see cref="KestrelReadAhead"/> bounds per connection. A Kestrel connection middleware: each connection's input is seen
/// through a reader that notes, at each of the app's reads, how much the transport holds unread, and gives it back when
/// the connection ends. So it is as of each connection's latest read: what arrives while the app does not read a
/// connection (a client read at its frame rate) shows at the app's next read of it. The transport's pipe has no public
/// length, so a read is the only place to see it.
/// </summary>
public sealed class ConnectionReadAhead
{
    private long _bytes;

    /// <summary>Unread bytes over all open connections, as of each one's latest read.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The middleware, for <c>ListenOptions.Use</c>.</summary>
    public ConnectionDelegate Apply(ConnectionDelegate next) => async connection =>
    {
        var input = new CountingReader(connection.Transport.Input, this);
        connection.Transport = new Duplex(input, connection.Transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            input.Release();
        }
    };

    private void Add(long bytes) => Interlocked.Add(ref _bytes, bytes);

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }

    /// <summary>One connection's input; a pipe has one reader at a time, so only <see cref="Release"/> can race it.</summary>
    private sealed class CountingReader(PipeReader inner, ConnectionReadAhead total) : PipeReader
    {
        private ReadOnlySequence<byte> _seen;
        private long _held;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken);
            Hold(result.Buffer);
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            Hold(result.Buffer);
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            // Measured before the inner reader lets the consumed segments go.
            var left = _seen.Slice(consumed).Length;
            _seen = default;
            inner.AdvanceTo(consumed, examined);
            Set(left);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            Release();
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception);
            Release();
        }

        /// <summary>Gives back what the connection still holds (it has ended); later calls give back nothing.</summary>
        public void Release() => total.Add(-Interlocked.Exchange(ref _held, 0));

        private void Hold(ReadOnlySequence<byte> buffer)
        {
            _seen = buffer;
            Set(buffer.Length);
        }

        private void Set(long bytes) => total.Add(bytes - Interlocked.Exchange(ref _held, bytes));
    }
}
