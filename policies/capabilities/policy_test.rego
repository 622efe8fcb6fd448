package driftless.capabilities_test

import data.driftless.capabilities

pod(caps) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "securityContext": {"capabilities": caps}}]}}

test_drop_all_allowed if count(capabilities.deny) == 0 with input as pod({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})

test_no_drop_denied if count(capabilities.deny) == 1 with input as pod({})

test_sys_admin_denied if {
	capabilities.deny == {"Pod p: container c adds capability SYS_ADMIN"} with input as pod({"drop": ["ALL"], "add": ["SYS_ADMIN"]})
}
