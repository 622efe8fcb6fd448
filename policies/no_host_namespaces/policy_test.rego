package driftless.no_host_namespaces_test

import data.driftless.no_host_namespaces

test_host_network_denied if {
	no_host_namespaces.deny == {"Pod p: hostNetwork is not allowed"} with input as {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": true}}
}

test_all_three_denied if {
	count(no_host_namespaces.deny) == 3 with input as {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": true, "hostPID": true, "hostIPC": true}}
}

test_false_allowed if {
	count(no_host_namespaces.deny) == 0 with input as {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": false}}
}
