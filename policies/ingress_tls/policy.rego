# Ingresses serve TLS: every host of every rule is listed under spec.tls.
package driftless.ingress_tls

deny contains msg if {
	input.kind == "Ingress"
	count(object.get(input.spec, "tls", [])) == 0
	msg := sprintf("Ingress %s/%s has no tls section", [input.metadata.namespace, input.metadata.name])
}

deny contains msg if {
	input.kind == "Ingress"
	count(object.get(input.spec, "tls", [])) != 0
	some rule in input.spec.rules
	not rule.host in tls_hosts
	msg := sprintf("Ingress %s/%s: host %s is not covered by tls", [input.metadata.namespace, input.metadata.name, rule.host])
}

tls_hosts contains host if {
	some tls in input.spec.tls
	some host in tls.hosts
}
