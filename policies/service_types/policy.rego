# No NodePort Services (they open a port on every node); a LoadBalancer only when the
# Service says it is meant to be public with the annotation driftless.dev/public: "true".
package driftless.service_types

deny contains msg if {
	input.kind == "Service"
	input.spec.type == "NodePort"
	msg := sprintf("Service %s/%s: type NodePort is not allowed", [input.metadata.namespace, input.metadata.name])
}

deny contains msg if {
	input.kind == "Service"
	input.spec.type == "LoadBalancer"
	not input.metadata.annotations["driftless.dev/public"] == "true"
	msg := sprintf("Service %s/%s: type LoadBalancer needs the annotation driftless.dev/public: \"true\"", [input.metadata.namespace, input.metadata.name])
}
