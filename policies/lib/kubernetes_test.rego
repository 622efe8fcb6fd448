package driftless.lib.kubernetes_test

import data.driftless.lib.kubernetes

test_pod_spec_of_a_cronjob if {
	kubernetes.pod_spec == {"containers": []} with input as {
		"kind": "CronJob",
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
	}
}

test_containers_include_init_containers if {
	count(kubernetes.containers) == 2 with input as {
		"kind": "Pod",
		"spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "b"}]},
	}
}

test_no_pod_spec_for_a_service if {
	not kubernetes.pod_spec with input as {"kind": "Service", "spec": {}}
}

test_names if {
	kubernetes.name == "Deployment shop/web" with input as {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
	kubernetes.name == "Namespace shop" with input as {"kind": "Namespace", "metadata": {"name": "shop"}}
}
