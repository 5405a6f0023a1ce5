using k8s.Models;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary><c>overlays/ingress</c>: an example NGINX Ingress for the public resources (the gateway and the live page).</summary>
internal sealed class IngressOverlay(KubernetesOptions options)
{
    public void Write(KustomizeTree tree, IReadOnlyList<PreparedWorkload> workloads, IReadOnlyList<string> folders)
    {
        var exposed = workloads.Where(w => w.Resource.IsProject && options.PublicResources.Contains(w.Name)).ToList();
        if (exposed.Count == 0)
        {
            return;
        }

        var ingress = new V1Ingress
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "Ingress",
            Metadata = new V1ObjectMeta
            {
                Name = "signal-pipeline",
                Annotations = new Dictionary<string, string>
                {
                    // WebSocket connections of the live page stay open: no 60 s proxy timeout.
                    ["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "3600",
                    ["nginx.ingress.kubernetes.io/proxy-send-timeout"] = "3600",
                },
            },
            Spec = new V1IngressSpec
            {
                IngressClassName = "nginx",
                Rules = exposed.Select(w => new V1IngressRule
                {
                    Host = $"{w.Name}.signal-pipeline.example.com",
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
                                    Service = new V1IngressServiceBackend { Name = w.Name, Port = new V1ServiceBackendPort { Name = w.Ports[0].Name } },
                                },
                            },
                        ],
                    },
                }).ToList(),
            },
        };

        tree.Overlay("ingress",
            "# Example Ingress (NGINX) for the gateway and the live page; set your hosts and TLS, then\n# kubectl apply --server-side -k deploy/k8s/overlays/ingress\n",
            folders, [], [("ingress.yaml", ingress)]);
    }
}
