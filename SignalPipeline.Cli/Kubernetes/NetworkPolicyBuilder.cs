using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>One connection the app makes: pods labelled <c>app=From</c> to pods labelled <c>app=To</c> on <c>Ports</c>.</summary>
internal sealed record Flow(string From, string To, IReadOnlyList<int> Ports);

/// <summary>
/// The namespace denies all traffic, in and out (<see cref="DefaultDeny"/>), except DNS (<see cref="AllowDns"/>); each
/// workload's own policy then opens exactly the flows it takes part in: ingress from its callers, egress to what it
/// calls, and for the public resources ingress from the ingress controller's namespace.
/// </summary>
internal sealed class NetworkPolicyBuilder(KubernetesOptions options)
{
    public static V1NetworkPolicy DefaultDeny() => new()
    {
        ApiVersion = "networking.k8s.io/v1",
        Kind = "NetworkPolicy",
        Metadata = new V1ObjectMeta { Name = "default-deny" },
        Spec = new V1NetworkPolicySpec { PodSelector = new V1LabelSelector(), PolicyTypes = ["Ingress", "Egress"] },
    };

    public static V1NetworkPolicy AllowDns() => new()
    {
        ApiVersion = "networking.k8s.io/v1",
        Kind = "NetworkPolicy",
        Metadata = new V1ObjectMeta { Name = "allow-dns" },
        Spec = new V1NetworkPolicySpec
        {
            PodSelector = new V1LabelSelector(),
            PolicyTypes = ["Egress"],
            Egress =
            [
                new V1NetworkPolicyEgressRule
                {
                    To =
                    [
                        new V1NetworkPolicyPeer
                        {
                            NamespaceSelector = NamespaceLabel("kube-system"),
                            PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["k8s-app"] = "kube-dns" } },
                        },
                    ],
                    Ports = [new V1NetworkPolicyPort { Protocol = "UDP", Port = 53 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = 53 }],
                },
            ],
        },
    };

    /// <summary>
    /// The policy of the pods labelled <paramref name="app"/>: ingress from each flow that ends there (and from the
    /// ingress controller on <paramref name="publicPorts"/>), egress for each flow that starts there. Null when there are none.
    /// </summary>
    public V1NetworkPolicy? For(string app, IReadOnlyList<Flow> flows, IReadOnlyList<int> publicPorts)
    {
        var ingress = flows.Where(f => f.To == app)
            .Select(f => new V1NetworkPolicyIngressRule { FromProperty = [AppPeer(f.From)], Ports = Tcp(f.Ports) })
            .ToList();
        if (publicPorts.Count > 0)
        {
            ingress.Add(new V1NetworkPolicyIngressRule { FromProperty = [new V1NetworkPolicyPeer { NamespaceSelector = NamespaceLabel(options.IngressNamespace) }], Ports = Tcp(publicPorts) });
        }

        var egress = flows.Where(f => f.From == app)
            .Select(f => new V1NetworkPolicyEgressRule { To = [AppPeer(f.To)], Ports = Tcp(f.Ports) })
            .ToList();
        if (ingress.Count == 0 && egress.Count == 0)
        {
            return null;
        }

        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = Meta(app, app),
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = Selector(app),
                PolicyTypes = [.. ingress.Count > 0 ? ["Ingress"] : Array.Empty<string>(), .. egress.Count > 0 ? ["Egress"] : Array.Empty<string>()],
                Ingress = ingress.Count > 0 ? ingress : null,
                Egress = egress.Count > 0 ? egress : null,
            },
        };
    }

    /// <summary>Ingress to <paramref name="app"/> from a whole namespace (the KEDA operator reading consumer lag).</summary>
    public static V1NetworkPolicy FromNamespace(string name, string app, string @namespace, IReadOnlyList<int> ports) => new()
    {
        ApiVersion = "networking.k8s.io/v1",
        Kind = "NetworkPolicy",
        Metadata = Meta(name, app),
        Spec = new V1NetworkPolicySpec
        {
            PodSelector = Selector(app),
            PolicyTypes = ["Ingress"],
            Ingress = [new V1NetworkPolicyIngressRule { FromProperty = [new V1NetworkPolicyPeer { NamespaceSelector = NamespaceLabel(@namespace) }], Ports = Tcp(ports) }],
        },
    };

    private static V1NetworkPolicyPeer AppPeer(string app) => new() { PodSelector = Selector(app) };

    private static V1LabelSelector NamespaceLabel(string name) =>
        new() { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = name } };

    private static List<V1NetworkPolicyPort> Tcp(IEnumerable<int> ports) =>
        ports.Distinct().Order().Select(p => new V1NetworkPolicyPort { Protocol = "TCP", Port = p }).ToList();
}
