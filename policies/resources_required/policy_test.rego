package driftless.resources_required_test

import data.driftless.resources_required

pod(resources) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": resources}]}}

test_all_set_allowed if {
	count(resources_required.deny) == 0 with input as pod({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}})
}

test_nothing_set_denied_three_times if {
	count(resources_required.deny) == 3 with input as pod({})
}

test_missing_limit_named if {
	resources_required.deny == {"Pod p: container c sets no resources.limits.memory"} with input as pod({"requests": {"cpu": "1", "memory": "1Gi"}})
}
