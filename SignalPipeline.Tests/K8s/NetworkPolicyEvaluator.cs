using k8s.Models;

namespace SignalPipeline.Tests.K8s;

/// <summary>
/// Which pod-to-pod connections a set of NetworkPolicies lets through, computed the way Kubernetes does: a connection
/// needs an ingress allow at the destination and an egress allow at the source whenever policies of that type select
/// the pod (pods are told apart by their <c>app</c> label, all in one namespace).
/// </summary>
internal sealed class NetworkPolicyEvaluator(IReadOnlyList<V1NetworkPolicy> policies)
{
    /// <summary>Every (from, to, port) allowed among <paramref name="apps"/> on <paramref name="ports"/>.</summary>
    public SortedSet<string> AllowedFlows(IEnumerable<string> apps, IEnumerable<int> ports)
    {
        var appList = apps.Distinct().ToList();
        var portList = ports.Distinct().ToList();
        var allowed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var from in appList)
        {
            foreach (var to in appList)
            {
                foreach (var port in portList.Where(p => Allows(from, to, p)))
                {
                    allowed.Add(Flow(from, to, port));
                }
            }
        }

        return allowed;
    }

    public static string Flow(string from, string to, int port) => $"{from} -> {to}:{port}";

    public bool Allows(string from, string to, int port) =>
        Allowed(to, "Ingress", p => p.Spec.Ingress?.Select(r => ((IList<V1NetworkPolicyPeer>?)r.FromProperty, (IList<V1NetworkPolicyPort>?)r.Ports)), from, port)
        && Allowed(from, "Egress", p => p.Spec.Egress?.Select(r => ((IList<V1NetworkPolicyPeer>?)r.To, (IList<V1NetworkPolicyPort>?)r.Ports)), to, port);

    private bool Allowed(
        string pod, string type, Func<V1NetworkPolicy, IEnumerable<(IList<V1NetworkPolicyPeer>? Peers, IList<V1NetworkPolicyPort>? Ports)>?> rules, string peer, int port)
    {
        var selecting = policies.Where(p => Selects(p.Spec.PodSelector, pod) && (p.Spec.PolicyTypes ?? []).Contains(type)).ToList();
        if (selecting.Count == 0)
        {
            return true; // not isolated in this direction
        }

        return selecting.SelectMany(p => rules(p) ?? []).Any(r =>
            (r.Peers is null || r.Peers.Count == 0 || r.Peers.Any(x => x.NamespaceSelector is null && x.IpBlock is null && Selects(x.PodSelector, peer)))
            && (r.Ports is null || r.Ports.Count == 0 || r.Ports.Any(x => x.Port is null || x.Port.Value == port.ToString(System.Globalization.CultureInfo.InvariantCulture))));
    }

    private static bool Selects(V1LabelSelector? selector, string app)
    {
        if (selector is null)
        {
            return false;
        }

        var labels = selector.MatchLabels ?? new Dictionary<string, string>();
        var expressions = selector.MatchExpressions ?? [];
        return labels.All(l => l.Key == "app" && l.Value == app)
            && expressions.All(e => e.Key == "app" && e.OperatorProperty == "In" && e.Values.Contains(app));
    }
}
