package driftless.no_privileged_test

import data.driftless.no_privileged

pod(sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "init", "securityContext": sc}]}}

test_privileged_init_container_denied if {
	no_privileged.deny == {"Pod p: container init is privileged"} with input as pod({"privileged": true})
}

test_unprivileged_allowed if {
	count(no_privileged.deny) == 0 with input as pod({"privileged": false})
}
