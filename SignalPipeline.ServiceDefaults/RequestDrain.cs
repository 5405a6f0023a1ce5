using Microsoft.AspNetCore.Http;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Reading an oversized body to its end before answering 413: answering and closing while the client is still sending
/// makes its TCP stack see a reset, and it may lose the answer. Used by the filter service and the gateway.
/// </summary>
public static class RequestDrain
{
    /// <summary>
    /// Reads the rest of the body, up to Kestrel's raised limit (past it Kestrel gives up and closes the connection). A
    /// client that leaves (end of content) or stalls (minimum data rate) in the middle of it ends the drain quietly: it
    /// still gets the 413 if it reads, and it is not a server error.
    /// </summary>
    public static async Task DrainAsync(this HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            await request.Body.CopyToAsync(Stream.Null, cancellationToken);
        }
        catch (BadHttpRequestException)
        {
        }
    }
}
