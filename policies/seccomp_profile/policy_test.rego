package driftless.seccomp_profile_test

import data.driftless.seccomp_profile

pod(pod_sc, sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": sc}]}}

test_pod_default_allowed if count(seccomp_profile.deny) == 0 with input as pod({"seccompProfile": {"type": "RuntimeDefault"}}, {})

test_container_unconfined_denied if {
	count(seccomp_profile.deny) == 1 with input as pod({"seccompProfile": {"type": "RuntimeDefault"}}, {"seccompProfile": {"type": "Unconfined"}})
}

test_unset_denied if count(seccomp_profile.deny) == 1 with input as pod({}, {})
