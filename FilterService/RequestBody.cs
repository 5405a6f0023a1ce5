using System.Buffers;

namespace FilterService;

/// <summary>A request body read whole into a pooled array (the JSON reader and the binary path both need it contiguous).</summary>
public sealed class RequestBody : IDisposable
{
    private byte[] _buffer;

    private RequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>
    /// Reads the body. Kestrel enforces <see cref="FilterServiceOptions.MaxRequestBodyBytes"/> while reading and throws
    /// <see cref="BadHttpRequestException"/> (413); a declared Content-Length over the limit is refused before reading.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            throw new FilterRequestException(StatusCodes.Status413PayloadTooLarge, "Request body too large",
                $"The request body is {request.ContentLength} bytes; the limit (FilterService:MaxRequestBodyBytes) is {maxBytes} bytes.");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(request.ContentLength ?? 0, 4096, Array.MaxLength) + 1);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new RequestBody(buffer, length);
                }

                length += read;
                if (length > maxBytes)
                {
                    // Kestrel normally stops us first; this also covers servers without that limit (tests, other hosts).
                    throw new FilterRequestException(StatusCodes.Status413PayloadTooLarge, "Request body too large",
                        $"The request body exceeds the limit (FilterService:MaxRequestBodyBytes) of {maxBytes} bytes.");
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new FilterRequestException(StatusCodes.Status413PayloadTooLarge, "Request body too large",
                $"The request body exceeds the limit (FilterService:MaxRequestBodyBytes) of {maxBytes} bytes.");
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
