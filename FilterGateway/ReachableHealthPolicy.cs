using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace FilterGateway;

/// <summary>
/// The gateway's active health policy: a destination is healthy while its <c>/health</c> probe gets any answer below
/// 500, unhealthy after <see cref="FailuresToUnhealthy"/> probes in a row that failed to connect, timed out or got a
/// 5xx (one slow probe on a busy machine must not shut a live service out for a whole interval). A 404 counts as healthy on purpose:
/// the original remote services have no <c>/health</c> but do answer. Together with the
/// <c>HealthyAndUnknown</c> destinations policy, a cluster whose only destination is dead has no destination at all,
/// and the gateway answers 503 at once (<see cref="FilterGatewayExtensions"/>) instead of sending requests into it.
/// </summary>
public sealed class ReachableHealthPolicy(IDestinationHealthUpdater healthUpdater) : IActiveHealthCheckPolicy
{
    public const string PolicyName = "Reachable";

    public const int FailuresToUnhealthy = 2;

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<DestinationState, StrongBox<int>> _failures = new();

    public string Name => PolicyName;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        if (probingResults.Count == 0)
        {
            return;
        }

        var results = new NewActiveDestinationHealth[probingResults.Count];
        for (var i = 0; i < probingResults.Count; i++)
        {
            var probe = probingResults[i];
            var reachable = probe.Exception is null && probe.Response is { } response && (int)response.StatusCode < 500;
            var failures = _failures.GetValue(probe.Destination, _ => new StrongBox<int>());
            failures.Value = reachable ? 0 : failures.Value + 1;
            var health = reachable ? DestinationHealth.Healthy
                : failures.Value >= FailuresToUnhealthy ? DestinationHealth.Unhealthy
                : probe.Destination.Health.Active;
            results[i] = new NewActiveDestinationHealth(probe.Destination, health);
        }

        healthUpdater.SetActive(cluster, results);
    }
}
