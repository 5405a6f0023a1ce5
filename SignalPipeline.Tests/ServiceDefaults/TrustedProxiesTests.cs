using Microsoft.Extensions.Hosting;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// ForwardedHeaders:KnownProxies / KnownNetworks (docs/filter-api.md, Gateway): an entry is trusted only as written.
/// .NET's parsers read 1.2.3 as 1.2.0.3, 010.0.0.1 as 8.0.0.1 and 10.1.0.0/8 as 10.0.0.0/8; such an entry stops the
/// service at start naming the setting and the entry, instead of trusting an address nobody meant.
/// </summary>
public sealed class TrustedProxiesTests
{
    [Theory]
    [InlineData("1.2.3")]
    [InlineData("127.1")]
    [InlineData("010.0.0.1")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("3232235777")]
    [InlineData("10.0.0.300")]
    [InlineData("ingress")]
    public void AProxyThatIsNotADottedQuadOrIPv6IsRefusedNamingIt(string proxy)
    {
        var failure = TheOneFailure(new TrustedProxies { KnownProxies = $"10.0.0.7, {proxy}" });

        Assert.StartsWith($"ForwardedHeaders:KnownProxies: '{proxy}' is not an IP address", failure);
    }

    [Theory]
    [InlineData("10.0/8", "is not a CIDR network")]
    [InlineData("1.2.3/32", "is not a CIDR network")]
    [InlineData("012.0.0.0/8", "is not a CIDR network")]
    [InlineData("10.0.0.0/33", "is not a CIDR network")]
    [InlineData("10.0.0.0", "is not a CIDR network")]
    [InlineData("10.1.0.0/8", "has address bits set past its /8 prefix: write 10.0.0.0/8")]
    [InlineData("fd00::1/8", "has address bits set past its /8 prefix: write fd00::/8")]
    public void ANetworkNotWrittenExactlyIsRefusedNamingIt(string network, string problem)
    {
        var failure = TheOneFailure(new TrustedProxies { KnownNetworks = $"192.168.0.0/16,{network}" });

        Assert.StartsWith($"ForwardedHeaders:KnownNetworks: '{network}' {problem}", failure);
    }

    [Theory]
    [InlineData("10.0.0.0/8,fd00::/8, 192.168.1.0/24", "10.0.0.7,::1,2001:DB8::7,::ffff:10.0.0.8,0.0.0.0")]
    [InlineData("0.0.0.0/0,::/0", "255.255.255.255")]
    [InlineData(null, null)]
    public void ExactAddressesAndNetworksAreTakenAsWritten(string? networks, string? proxies)
    {
        var trusted = new TrustedProxies { KnownNetworks = networks, KnownProxies = proxies };

        var result = new TrustedProxiesValidator().Validate(null, trusted);

        Assert.True(result.Succeeded, string.Join("; ", result.Failures ?? []));
        Assert.Equal(TrustedProxies.Split(networks), trusted.Networks().Select(n => n.ToString()));
    }

    /// <summary>What the validator says of <paramref name="options"/>, which must be refused for one entry.</summary>
    private static string TheOneFailure(TrustedProxies options)
    {
        var result = new TrustedProxiesValidator().Validate(null, options);
        Assert.True(result.Failed, "the entry was accepted");
        return Assert.Single(result.Failures!);
    }
}
