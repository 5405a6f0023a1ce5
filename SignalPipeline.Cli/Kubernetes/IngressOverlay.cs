using System.Globalization;
using k8s.Models;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// <c>overlays/ingress</c>: an example NGINX Ingress per public resource (the gateway and the live page), each with the
/// limits of <see cref="KubernetesOptions.IngressEdges"/> (annotations are per Ingress, so one per resource).
/// </summary>
internal sealed class IngressOverlay(KubernetesOptions options)
{
    private const string Annotation = "nginx.ingress.kubernetes.io/";

    public void Write(KustomizeTree tree, IReadOnlyList<PreparedWorkload> workloads, IReadOnlyList<string> folders)
    {
        var exposed = workloads.Where(w => w.Resource.IsProject && options.PublicResources.Contains(w.Name)).ToList();
        if (exposed.Count == 0)
        {
            return;
        }

        var ingresses = exposed.Select(w => ($"ingress-{w.Name}.yaml", (object)IngressFor(w))).ToList();
        tree.Overlay("ingress",
            "# Example Ingress (NGINX) for the gateway and the live page; set your hosts and TLS, then\n# kubectl apply --server-side -k deploy/k8s/overlays/ingress\n",
            folders, [], ingresses);
    }

    private V1Ingress IngressFor(PreparedWorkload workload)
    {
        var edge = options.IngressEdgeOf(workload.Name);

        // One client address holds at most this many connections at each controller pod; more get NGINX's refusal
        // (503, or the controller ConfigMap's limit-conn-status-code) without reaching the pods.
        var annotations = new Dictionary<string, string>
        {
            [Annotation + "limit-connections"] = Number(edge.ConnectionsPerAddress),
        };

        // Requests one client address may send a second through each controller pod (NGINX adds a burst of 5 times it);
        // past it NGINX answers 503 (or limit-req-status-code) without reaching the pods: pipelined cheap requests (probes,
        // page files) would otherwise cost a pod CPU for each.
        if (edge.RequestsPerSecondPerAddress > 0)
        {
            annotations[Annotation + "limit-rps"] = Number(edge.RequestsPerSecondPerAddress);
            if (edge.BurstMultiplier > 0)
            {
                annotations[Annotation + "limit-burst-multiplier"] = Number(edge.BurstMultiplier);
            }
        }

        // WebSocket connections of the live page stay open: no 60 s proxy timeout. Elsewhere NGINX's 60 s stays, longer than
        // the gateway's own forwarding timeout, so the gateway answers first.
        var timeout = edge.LongLived ? "3600" : "60";
        annotations[Annotation + "proxy-read-timeout"] = timeout;
        annotations[Annotation + "proxy-send-timeout"] = timeout;

        // NGINX refuses bodies over 1 MiB by default, with its own 413 page: pass what the service itself accepts.
        if (edge.MaxBodyBytes > 0)
        {
            annotations[Annotation + "proxy-body-size"] = edge.MaxBodyBytes % (1024 * 1024) == 0
                ? Number(edge.MaxBodyBytes / (1024 * 1024)) + "m"
                : Number(edge.MaxBodyBytes);
        }

        return new V1Ingress
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "Ingress",
            Metadata = new V1ObjectMeta { Name = workload.Name, Annotations = annotations },
            Spec = new V1IngressSpec
            {
                IngressClassName = "nginx",
                Rules =
                [
                    new V1IngressRule
                    {
                        Host = $"{workload.Name}.signal-pipeline.example.com",
                        Http = new V1HTTPIngressRuleValue
                        {
                            Paths =
                            [
                                new V1HTTPIngressPath
                                {
                                    Path = "/",
                                    PathType = "Prefix",
                                    Backend = new V1IngressBackend
                                    {
                                        Service = new V1IngressServiceBackend { Name = workload.Name, Port = new V1ServiceBackendPort { Name = workload.Ports[0].Name } },
                                    },
                                },
                            ],
                        },
                    },
                ],
            },
        };
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
