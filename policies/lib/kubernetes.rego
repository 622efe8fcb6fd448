# Helpers shared by the library: where the pod spec and containers of any workload are.
package driftless.lib.kubernetes

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# The pod spec of a Pod, a workload with a pod template, or a CronJob. (An `else` chain, not
# three definitions: the VM runs only rules that cannot yield two values, see docs/policy.md.)
pod_spec := input.spec if {
	input.kind == "Pod"
} else := input.spec.template.spec if {
	input.kind in workload_kinds
} else := input.spec.jobTemplate.spec.template.spec if {
	input.kind == "CronJob"
}

# Every container, init and ephemeral ones included, with the field they are listed under.
containers contains {"field": field, "container": c} if {
	some field in ["containers", "initContainers", "ephemeralContainers"]
	some c in pod_spec[field]
}

# Regular and init containers (the ones that run the workload).
main_containers contains {"field": field, "container": c} if {
	some field in ["containers", "initContainers"]
	some c in pod_spec[field]
}

# "Deployment shop/web" or "Namespace shop".
name := sprintf("%s %s/%s", [input.kind, input.metadata.namespace, input.metadata.name]) if {
	input.metadata.namespace
} else := sprintf("%s %s", [input.kind, input.metadata.name])
