package driftless.no_privilege_escalation_test

import data.driftless.no_privilege_escalation

pod(sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "securityContext": sc}]}}

test_unset_denied if count(no_privilege_escalation.deny) == 1 with input as pod({})

test_true_denied if count(no_privilege_escalation.deny) == 1 with input as pod({"allowPrivilegeEscalation": true})

test_false_allowed if count(no_privilege_escalation.deny) == 0 with input as pod({"allowPrivilegeEscalation": false})
