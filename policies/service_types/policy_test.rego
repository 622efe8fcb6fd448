package driftless.service_types_test

import data.driftless.service_types

svc(type, annotations) := {"kind": "Service", "metadata": {"name": "s", "namespace": "n", "annotations": annotations}, "spec": {"type": type}}

test_cluster_ip_allowed if count(service_types.deny) == 0 with input as svc("ClusterIP", {})

test_node_port_denied if count(service_types.deny) == 1 with input as svc("NodePort", {})

test_load_balancer_needs_annotation if {
	count(service_types.deny) == 1 with input as svc("LoadBalancer", {})
	count(service_types.deny) == 0 with input as svc("LoadBalancer", {"driftless.dev/public": "true"})
}
