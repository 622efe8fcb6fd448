package driftless.ingress_tls_test

import data.driftless.ingress_tls

ing(tls) := {"kind": "Ingress", "metadata": {"name": "i", "namespace": "n"}, "spec": {"rules": [{"host": "a.example.com"}, {"host": "b.example.com"}], "tls": tls}}

test_all_hosts_covered if count(ingress_tls.deny) == 0 with input as ing([{"hosts": ["a.example.com", "b.example.com"], "secretName": "t"}])

test_no_tls_denied if ingress_tls.deny == {"Ingress n/i has no tls section"} with input as ing([])

test_uncovered_host_denied if {
	ingress_tls.deny == {"Ingress n/i: host b.example.com is not covered by tls"} with input as ing([{"hosts": ["a.example.com"]}])
}
