package driftless.allowed_registries_test

import data.driftless.allowed_registries

pod(image) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}

test_allowed_registry if count(allowed_registries.deny) == 0 with input as pod("registry.example.com/shop/web:1")

test_docker_hub_denied if count(allowed_registries.deny) == 1 with input as pod("nginx:1.27")

test_prefix_is_not_a_substring if count(allowed_registries.deny) == 1 with input as pod("evil.io/registry.example.com/web:1")

test_prefixes_from_data if {
	count(allowed_registries.deny) == 0 with input as pod("nginx:1.27") with data.allowed_registries.prefixes as ["nginx"]
}
