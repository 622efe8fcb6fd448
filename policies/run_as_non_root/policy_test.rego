package driftless.run_as_non_root_test

import data.driftless.run_as_non_root

pod(pod_sc, sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": sc}]}}

test_pod_level_allowed if count(run_as_non_root.deny) == 0 with input as pod({"runAsNonRoot": true}, {})

test_container_level_allowed if count(run_as_non_root.deny) == 0 with input as pod({}, {"runAsNonRoot": true})

test_container_overrides_pod if count(run_as_non_root.deny) == 1 with input as pod({"runAsNonRoot": true}, {"runAsNonRoot": false})

test_unset_denied if count(run_as_non_root.deny) == 1 with input as pod({}, {})

test_uid_zero_denied if {
	run_as_non_root.deny == {"Pod p: container c runs as user 0 (root)"} with input as pod({"runAsNonRoot": true}, {"runAsUser": 0})
}
