package driftless.no_host_ports_test

import data.driftless.no_host_ports

pod(ports) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "ports": ports}]}}

test_host_port_denied if {
	no_host_ports.deny == {"Pod p: container c binds host port 8080"} with input as pod([{"containerPort": 80, "hostPort": 8080}])
}

test_container_port_allowed if {
	count(no_host_ports.deny) == 0 with input as pod([{"containerPort": 80}])
}
