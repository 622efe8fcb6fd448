package driftless.no_host_path_test

import data.driftless.no_host_path

test_host_path_denied if {
	no_host_path.deny == {"Pod p: volume logs mounts the host path /var/log"} with input as {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]}}
}

test_empty_dir_allowed if {
	count(no_host_path.deny) == 0 with input as {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}
}
