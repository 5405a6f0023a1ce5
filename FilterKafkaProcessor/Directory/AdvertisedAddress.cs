namespace FilterKafkaProcessor.Directory;

/// <summary>
/// The base URL this instance announces (pure): <c>Processor:AdvertisedUrl</c> when set; else the first http address
/// Kestrel bound, a wildcard host (<c>+</c>, <c>*</c>, <c>0.0.0.0</c>, <c>[::]</c>) replaced by
/// <c>POD_IP</c> when set (Kubernetes' downward API) or else the host name. A loopback address is kept as it is: the
/// instances then run on one machine (the AppHost's replicas).
/// </summary>
public static class AdvertisedAddress
{
    public const string PodIpVariable = "POD_IP";

    public static string? Choose(string? configured, IEnumerable<string> bound, string? podIp, string hostName)
    {
        if (configured is { Length: > 0 })
        {
            return configured.TrimEnd('/');
        }

        var addresses = bound.ToList();
        var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) ?? addresses.FirstOrDefault();
        if (address is null)
        {
            return null;
        }

        // Kestrel reports wildcards as written ("http://+:8080", "http://*:8080") or bound ("http://[::]:8080"); Uri rejects the first two.
        var schemeEnd = address.IndexOf("://", StringComparison.Ordinal) + 3;
        var portStart = address.LastIndexOf(':');
        var host = address[schemeEnd..(portStart > schemeEnd ? portStart : address.Length)];
        var wildcard = portStart > schemeEnd && host is "+" or "*" or "0.0.0.0" or "[::]";
        return (wildcard ? address[..schemeEnd] + Host(podIp, hostName) + address[portStart..] : address).TrimEnd('/');
    }

    public static bool IsHttpUrl(string? url)
        => Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0;

    private static string Host(string? podIp, string hostName)
        => podIp is { Length: > 0 } ip ? (ip.Contains(':', StringComparison.Ordinal) ? $"[{ip}]" : ip) : hostName;
}
