"""A driftless health plugin in Python (componentize-py), against the same WIT as the Rust SDK.

It assesses `example.com` Widgets from `status.ready`, and proves the contract is language
neutral: the host loads and calls it exactly like a Rust plugin.

Build: componentize-py -d sdk/wit -w health componentize app -o python-health.wasm
"""

import json

import wit_world
from wit_world.exports import health_check
from wit_world.imports import host, types


class WitWorld(wit_world.WitWorld):
    def metadata(self) -> types.PluginMetadata:
        return types.PluginMetadata(
            name="python-health",
            kind=types.PluginKind.HEALTH,
            version="0.1.0",
            contract="0.1.0",
            capabilities=[],
        )


class HealthCheck(wit_world.exports.HealthCheck):
    def kinds(self):
        return [health_check.KindSelector(group="example.com", kind="Widget")]

    def assess(self, objects):
        out = []
        for text in objects:
            try:
                obj = json.loads(text)
            except ValueError as e:
                out.append(health_check.Health(health_check.HealthStatus.UNKNOWN, f"not JSON: {e}"))
                continue
            ready = (obj.get("status") or {}).get("ready")
            if ready is True:
                out.append(health_check.Health(health_check.HealthStatus.HEALTHY, "ready (said Python)"))
            elif ready is False:
                out.append(health_check.Health(health_check.HealthStatus.DEGRADED, "not ready (said Python)"))
            else:
                out.append(None)
        host.log(host.Level.DEBUG, f"assessed {len(objects)} objects")
        return out
